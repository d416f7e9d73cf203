"""The `qualia` command line.

Exit codes: 0 success, 1 a failure while working, 2 a usage error (bad
flags, unknown plugin, invalid config). Errors go to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

import msgspec

from qualia.ops.backup_cli import add_backup_parser, run_backup_command
from qualia.plugin_sdk.manifest import Manifest, Parameter

from . import __version__
from qualia.plugin_sdk.document import Document

from .cache import CacheError, ResultCache
from .errors import BadRequest, InvalidConfig, QualiaError, UnknownPlugin
from .inputs import load_document
from .kernel import Kernel
from .pipeline import PipelineError, load_pipeline, plan_for_target, plan_pipeline, run_plan
from .registry import Registry
from .settings import Settings

USAGE_ERRORS = (BadRequest, InvalidConfig, UnknownPlugin, PipelineError)


class UsageError(Exception):
    pass


# ---- argument parsing ----------------------------------------------------------

def parse_parameter(manifest: Manifest, assignment: str) -> tuple[str, Any]:
    """`key=value` from `-P`, converted to the parameter's declared type."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UsageError(f"-P expects key=value, got {assignment!r}")
    param = manifest.parameters.get(key)
    if param is None:
        return key, text  # validation names the unknown key with the known ones
    try:
        return key, _convert(param.type, text, param)
    except ValueError as exc:
        raise UsageError(f"-P {key}: {exc}") from None


def _convert(kind: str, text: str, param: Parameter | None = None) -> Any:
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind in ("list", "object"):
        if text.startswith(("[", "{")):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
        if kind == "object":
            raise ValueError("expected a JSON object")
        items = [item.strip() for item in text.split(",") if item.strip()]
        item_kind = param.items if param is not None and param.items else "string"
        return [_convert(item_kind, item) for item in items]
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qualia", description="Qualia Core: qualitative text into evidence.")
    parser.add_argument("--home", type=Path, help="data directory (env QUALIA_HOME, default ~/.qualia)")
    parser.add_argument("--plugin-path", action="append", type=Path, metavar="DIR",
                        help="extra folder of plugins (repeatable; env QUALIA_PLUGIN_PATH)")
    parser.add_argument("--breaker-failures", type=int, metavar="N",
                        help="consecutive plugin faults that open the breaker (env QUALIA_BREAKER_FAILURES, default 5)")
    parser.add_argument("--breaker-open-s", type=float, metavar="S",
                        help="seconds a breaker stays open (env QUALIA_BREAKER_OPEN_S, default 300)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log kernel events to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("version", help="print the version", description="Print the Qualia Core version.")

    plugins = commands.add_parser("plugins", help="list plugins", description="List discovered plugins (starts none).")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    show = plugins_sub.add_parser("show", help="show one plugin", description="Show a plugin's manifest.")
    show.add_argument("plugin_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    analyze = commands.add_parser("analyze", help="run an analyzer on files",
                                  description="Run an analyzer plugin on each FILE ('-' reads stdin).")
    analyze.add_argument("files", nargs="+", metavar="FILE")
    analyze.add_argument("-p", "--plugin", required=True, metavar="ID", help="analyzer plugin id")
    analyze.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                         help="plugin parameter (repeatable)")
    analyze.add_argument("--json", action="store_true",
                         help="exact JSON: the result for one file, a list of {file, result} for several")
    analyze.add_argument("-o", "--output", type=Path, metavar="OUT", help="write to OUT instead of stdout")
    analyze.add_argument("--no-cache", action="store_true", help="bypass the result cache")

    process = commands.add_parser("process", help="run a document plugin on a file",
                                  description="Run a document plugin (e.g. teams_cleaner) on FILE; prints the "
                                              "resulting Document as JSON.")
    process.add_argument("file", metavar="FILE")
    process.add_argument("-p", "--plugin", required=True, metavar="ID", help="document plugin id")
    process.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                         help="plugin parameter (repeatable)")
    process.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the Document JSON to OUT")
    process.add_argument("--no-cache", action="store_true", help="bypass the result cache")

    visualize = commands.add_parser("visualize", help="draw a figure from a file",
                                    description="Run a visualizer on FILE; the analyzers it needs run first.")
    visualize.add_argument("file", metavar="FILE")
    visualize.add_argument("-p", "--plugin", required=True, metavar="ID", help="visualizer plugin id")
    visualize.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                           help="visualizer parameter (repeatable)")
    visualize.add_argument("--format", choices=["png", "svg", "html"], help="figure format (default: the "
                                                                            "plugin's first)")
    visualize.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="figure file to write")
    visualize.add_argument("--clean", action="store_true", help="parse the transcript with teams_cleaner first")
    visualize.add_argument("--no-cache", action="store_true", help="bypass the result cache")

    pipeline = commands.add_parser("pipeline", help="run a pipeline file over files",
                                   description="Run the steps of a pipeline file (TOML or JSON) over each FILE. "
                                               "The whole pipeline is checked before anything runs.")
    pipeline.add_argument("files", nargs="+", metavar="FILE")
    pipeline.add_argument("-f", "--pipeline-file", required=True, type=Path, metavar="PIPELINE")
    pipeline.add_argument("-o", "--output-dir", type=Path, default=Path("out"), metavar="DIR",
                          help="folder for figures and results.json (default: out)")
    pipeline.add_argument("--json", action="store_true", help="print every step's result as JSON")
    pipeline.add_argument("--no-cache", action="store_true", help="bypass the result cache")

    cache = commands.add_parser("cache", help="inspect or clear the result cache",
                                description="The result cache lives in QUALIA_HOME/cache.sqlite3.")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")
    stats = cache_sub.add_parser("stats", help="entries, size, limit", description="Show cache statistics.")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    clear = cache_sub.add_parser("clear", help="delete cached results", description="Delete cached results.")
    clear.add_argument("--plugin", metavar="ID", help="only this plugin's results")

    doctor = commands.add_parser("doctor", help="start every plugin once and report",
                                 description="Start every plugin, check its handshake, report OK or the reason.")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    serve = commands.add_parser("serve", help="run the REST service",
                                description="Serve the REST API (see GET /docs) until SIGTERM or SIGINT; in-flight "
                                            "requests finish (QUALIA_SHUTDOWN_TIMEOUT_S) and plugins shut down.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate (with --key)")
    serve.add_argument("--key", type=Path, metavar="PEM", help="TLS private key (with --cert)")

    add_backup_parser(commands)
    return parser


# ---- output ------------------------------------------------------------------

def _format_table(rows: list[dict[str, Any]], limit: int = 25) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_short(row.get(col, "")) for col in columns] for row in rows[:limit]]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (use --json for all)")
    return lines


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def render_human(value: Any, indent: str = "") -> list[str]:
    """A readable view of any JSON result: scalars as lines, lists of objects as tables."""
    lines: list[str] = []
    if not isinstance(value, dict):
        return [indent + _short(value)]
    for key, item in value.items():
        if isinstance(item, list) and item and all(isinstance(row, dict) for row in item):
            lines.append(f"{indent}{key}:")
            lines += [indent + "  " + line for line in _format_table(item)]
        elif isinstance(item, dict) and item:
            lines.append(f"{indent}{key}:")
            lines += render_human(item, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {_short(item)}")
    return lines


def emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def to_json(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode("utf-8")


def manifest_view(manifest: Manifest, state: Any = None) -> dict[str, Any]:
    view = msgspec.to_builtins(manifest)
    view["state"] = msgspec.to_builtins(state) if state is not None else "not started"
    return view


# ---- commands ------------------------------------------------------------------

def cmd_plugins(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry(settings.plugin_path, entry_points=settings.use_entry_points)
    registry.reload()
    if args.plugins_command == "show":
        manifest = registry.get(args.plugin_id)
        if args.json:
            emit(to_json(manifest_view(manifest)), None)
            return 0
        view = manifest_view(manifest)
        params = view.pop("parameters")
        lines = render_human(view)
        lines.append("parameters:")
        rows = [{"name": name, "type": p["type"], "default": p.get("default"),
                 "range/choices": p.get("choices") or _range(p), "description": p.get("description", "")}
                for name, p in params.items()]
        lines += ["  " + line for line in (_format_table(rows, 100) if rows else ["(none)"])]
        emit("\n".join(lines), None)
        return 0
    if args.json:
        emit(to_json({"plugins": [manifest_view(m) for m in registry],
                      "problems": msgspec.to_builtins(registry.problems)}), None)
    else:
        rows = [{"id": m.id, "kind": m.kind, "version": m.version, "provides": ",".join(m.provides),
                 "requires": ",".join(m.requires), "description": m.description} for m in registry]
        lines = _format_table(rows, 1000) if rows else ["no plugins found"]
        for problem in registry.problems:
            lines.append(f"broken: {problem.path}: {problem.reason}")
        emit("\n".join(lines), None)
    return 0


def _range(param: dict[str, Any]) -> str:
    low, high = param.get("min"), param.get("max")
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"


async def cmd_analyze(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = kernel.registry.get(args.plugin)
    if manifest.kind != "analyzer":
        raise UsageError(f"plugin {manifest.id!r} is a {manifest.kind} plugin; analyze runs analyzers")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    kernel.prepare_config(manifest, config)  # fail before reading any file
    results = []
    for source in args.files:
        document = read_document(source)
        outcome = await kernel.run(manifest.id, document, config, use_cache=not args.no_cache)
        results.append({"file": source, "result": outcome.result})  # type: ignore[union-attr]
    if args.json:
        emit(to_json(results[0]["result"] if len(results) == 1 else results), args.output)
    else:
        lines: list[str] = []
        for item in results:
            lines.append(f"== {item['file']} ({manifest.id})")
            lines += render_human(item["result"])
        emit("\n".join(lines), args.output)
    return 0


def read_document(source: str) -> Document:
    try:
        return load_document(source)
    except OSError as exc:
        raise BadRequest(f"cannot read {source}: {exc.strerror or exc}") from None


async def cmd_process(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = kernel.registry.get(args.plugin)
    if manifest.kind != "document":
        raise UsageError(f"plugin {manifest.id!r} is a {manifest.kind} plugin; process runs document plugins")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    kernel.prepare_config(manifest, config)
    outcome = await kernel.run(manifest.id, read_document(args.file), config, use_cache=not args.no_cache)
    emit(to_json(outcome.document), args.output)  # type: ignore[union-attr]
    return 0


async def cmd_visualize(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = kernel.registry.get(args.plugin)
    if manifest.kind != "visualizer":
        raise UsageError(f"plugin {manifest.id!r} is a {manifest.kind} plugin; visualize runs visualizers")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    if args.format:
        config["format"] = args.format
    plan = plan_for_target(kernel, manifest.id, config, clean=args.clean)
    run = await run_plan(kernel, plan, read_document(args.file), name=manifest.id, use_cache=not args.no_cache)
    figure = run.steps[-1].figure
    assert figure is not None and figure.data is not None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(figure.data)
    steps = " -> ".join(step.plugin for step in run.steps)
    print(f"wrote {args.output} ({figure.media_type}, {figure.size} bytes) via {steps}", file=sys.stderr)
    return 0


async def cmd_pipeline(args: argparse.Namespace, kernel: Kernel) -> int:
    spec = load_pipeline(args.pipeline_file)
    plan = plan_pipeline(kernel, spec)
    documents = [read_document(source) for source in args.files]  # read all before running any
    ids = [doc.id for doc in documents]
    for index, doc in enumerate(documents):  # two files named alike must not share an output folder
        if ids.count(doc.id) > 1:
            doc.id = f"{doc.id}-{index + 1}"
    args.output_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for source, document in zip(args.files, documents):
        run = await run_plan(kernel, plan, document, name=spec.name, output_dir=args.output_dir,
                             use_cache=not args.no_cache)
        runs.append(run)
        summary = ", ".join(f"{step.id}{' (cached)' if step.cached else ''}" for step in run.steps)
        print(f"{source}: {summary}", file=sys.stderr)
        for step in run.steps:
            if step.figure is not None:
                print(f"  {step.figure.path}", file=sys.stderr)
    results_path = args.output_dir / "results.json"
    results_path.write_text(to_json(runs), encoding="utf-8")
    print(f"results of every step: {results_path}", file=sys.stderr)
    if args.json:
        emit(to_json(runs), None)
    return 0


def cmd_cache(args: argparse.Namespace, settings: Settings) -> int:
    with ResultCache(settings.cache_path, settings.cache_max_bytes) as cache:
        if args.cache_command == "clear":
            removed = cache.clear(args.plugin)
            print(f"removed {removed} cached result(s)" + (f" of {args.plugin}" if args.plugin else ""))
            return 0
        stats = cache.stats()
    if args.json:
        emit(to_json(stats), None)
    else:
        emit("\n".join(render_human(msgspec.to_builtins(stats))), None)
    return 0


async def cmd_doctor(args: argparse.Namespace, kernel: Kernel) -> int:
    async def probe(manifest: Manifest) -> dict[str, Any]:
        started = asyncio.get_running_loop().time()
        try:
            status = await kernel.check(manifest.id)
        except QualiaError as exc:
            tail = exc.details.get("stderr_tail") or []
            return {"id": manifest.id, "ok": False, "reason": exc.message, "stderr_tail": tail[-10:]}
        elapsed = asyncio.get_running_loop().time() - started
        pid = status.processes[0].pid if status.processes else None
        return {"id": manifest.id, "ok": True, "version": manifest.version, "pid": pid,
                "start_ms": round(elapsed * 1000, 1)}

    reports = await asyncio.gather(*(probe(m) for m in kernel.registry))
    problems = [{"path": p.path, "reason": p.reason} for p in kernel.registry.problems]
    healthy = all(r["ok"] for r in reports) and not problems
    if args.json:
        emit(to_json({"ok": healthy, "plugins": reports, "manifest_problems": problems}), None)
    else:
        lines = []
        for report in reports:
            if report["ok"]:
                lines.append(f"OK    {report['id']} {report['version']} (pid {report['pid']}, "
                             f"started in {report['start_ms']} ms)")
            else:
                lines.append(f"FAIL  {report['id']}: {report['reason']}")
                lines += [f"      | {line}" for line in report["stderr_tail"]]
        for problem in problems:
            lines.append(f"FAIL  manifest {problem['path']}: {problem['reason']}")
        lines.append("all plugins healthy" if healthy else "some plugins are broken")
        emit("\n".join(lines), None)
    return 0 if healthy else 1


KERNEL_COMMANDS: dict[str, Callable[[argparse.Namespace, Kernel], Awaitable[int]]] = {
    "analyze": cmd_analyze,
    "process": cmd_process,
    "visualize": cmd_visualize,
    "pipeline": cmd_pipeline,
    "doctor": cmd_doctor,
}


async def _with_kernel(command: Callable[[argparse.Namespace, Kernel], Awaitable[int]],
                       args: argparse.Namespace, settings: Settings) -> int:
    async with Kernel(settings) as kernel:
        return await command(args, kernel)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_env(home=args.home, breaker_failures=args.breaker_failures,
                                     breaker_open_s=args.breaker_open_s)
        if args.plugin_path:
            settings.plugin_path = list(args.plugin_path) + settings.plugin_path
        if args.command == "version":
            print(f"qualia-core {__version__}")
            return 0
        if args.command == "plugins":
            return cmd_plugins(args, settings)
        if args.command == "cache":
            return cmd_cache(args, settings)
        if args.command == "backup":
            return run_backup_command(args, settings)
        if args.command == "serve":
            from .server import serve_main  # aiohttp is imported only for the service

            return serve_main(settings, args.host, args.port, cert=args.cert, key=args.key)
        return asyncio.run(_with_kernel(KERNEL_COMMANDS[args.command], args, settings))
    except (UsageError, ValueError) as exc:
        print(f"qualia: error: {exc}", file=sys.stderr)
        return 2
    except CacheError as exc:
        print(f"qualia: error: {exc}", file=sys.stderr)
        return 1
    except QualiaError as exc:
        print(f"qualia: error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, USAGE_ERRORS) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
