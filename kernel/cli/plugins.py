"""`qualia plugins`: what discovery found (no process starts), and the author's tools around it.

`plugins [--json]` lists id, kind, version, source and full path; `show ID`
one manifest; `check ID|PATH` the conformance run; `search TERM` / `install
NAME` the plugin index; `reload ID` / `reset-breaker ID` act on a running server.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import Manifest

from .. import plugin_index
from ..conformance import ConformanceReport, check_plugin
from ..errors import UsageError
from ..kernel import Kernel
from ..registry import PluginSource, Registry
from ..settings import Settings
from .command import Command, Subcommands
from .remote import add_server_arguments, post, quoted
from .render import emit, format_table, render_human, to_json


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    plugins = commands.add_parser("plugins", help="list, check, find and install plugins",
                                  description="List discovered plugins (starts none), or one of the subcommands.")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    sub = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="show one plugin", description="Show a plugin's manifest, source and path.")
    show.add_argument("plugin_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    check = sub.add_parser("check", help="conformance run of one plugin (any language)",
                           description="Start the plugin and check the contract: handshake, runs on sample documents, "
                                       "-32601/-32602, stdout discipline, shutdown. Exit 1 when a check fails.")
    check.add_argument("target", metavar="ID|PATH",
                       help="a plugin id, or the folder holding its plugin.toml (a path has a /: ./my_plugin)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    search = sub.add_parser("search", help="search the plugin index",
                            description="Search the plugin index (--index, QUALIA_PLUGIN_INDEX, else the sample "
                                        "index of the bundled plugins) by name, description, kind and keywords.")
    search.add_argument("term", metavar="TERM", nargs="?", default="", help="what to look for (empty: everything)")
    search.add_argument("--index", metavar="PATH|URL", help="the index file (env QUALIA_PLUGIN_INDEX)")
    search.add_argument("--json", action="store_true", help="machine-readable output")
    install = sub.add_parser("install", help="install a plugin from the index with pip",
                             description="pip install the distribution the index names into this environment "
                                         "(python -m pip install); the plugin is listed at once. Arguments after "
                                         "`--` go to pip (e.g. -- --no-index --find-links DIR).")
    install.add_argument("name", metavar="NAME", help="the plugin's name in the index")
    install.add_argument("--index", metavar="PATH|URL", help="the index file (env QUALIA_PLUGIN_INDEX)")
    install.set_defaults(passthrough=[])  # arguments after `--` go to pip
    reload = sub.add_parser("reload", help="reload a plugin in a running server",
                            description="POST /plugins/ID/reload: the server re-reads manifests; a changed plugin "
                                        "restarts with its new manifest and code (calls in flight finish first).")
    reload.add_argument("plugin_id", metavar="ID")
    add_server_arguments(reload)
    reset = sub.add_parser("reset-breaker", help="close a plugin's circuit breaker in a running server",
                           description="POST /plugins/ID/breaker/reset: the next call starts a fresh process.")
    reset.add_argument("plugin_id", metavar="ID")
    add_server_arguments(reset)
    return plugins


def registry_of(settings: Settings, plugin_folders: list[Path] | None = None) -> Registry:
    registry = Registry(settings.plugin_path, entry_points=settings.use_entry_points, plugin_folders=plugin_folders)
    registry.reload()
    return registry


def manifest_view(manifest: Manifest, state: Any = None, source: PluginSource | None = None,
                  code_hash: str | None = None) -> dict[str, Any]:
    view = msgspec.to_builtins(manifest)
    if source is not None:
        view["source"] = msgspec.to_builtins(source)
    if code_hash:
        view["code_hash"] = code_hash
    view["state"] = msgspec.to_builtins(state) if state is not None else "not started"
    return view


def run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.plugins_command
    if command == "check":
        return _check(args, settings)
    if command == "search":
        return _search(args, settings)
    if command == "install":
        return _install(args, settings)
    if command in ("reload", "reset-breaker"):
        return _remote(args)
    registry = registry_of(settings)
    if command == "show":
        manifest = registry.get(args.plugin_id)
        return _show(registry, manifest, as_json=args.json)
    if args.json:
        emit(to_json({"plugins": [manifest_view(m, source=registry.sources.get(m.id),
                                                code_hash=registry.code_hash(m.id)) for m in registry],
                      "problems": msgspec.to_builtins(registry.problems)}), None)
        return 0
    rows = [{"id": m.id, "kind": m.kind, "version": m.version, "provides": ",".join(m.provides),
             "requires": ",".join(m.requires), "source": registry.sources[m.id].describe(), "path": m.path}
            for m in registry]
    lines = format_table(rows, 1000, width=10_000) if rows else ["no plugins found"]
    lines += [f"broken: {problem.path}: {problem.reason}" for problem in registry.problems]
    emit("\n".join(lines), None)
    return 0


def _show(registry: Registry, manifest: Manifest, *, as_json: bool) -> int:
    source = registry.sources.get(manifest.id)
    view = manifest_view(manifest, source=source, code_hash=registry.code_hash(manifest.id))
    if as_json:
        emit(to_json(view), None)
        return 0
    params = view.pop("parameters")
    view.pop("source", None)
    path = view.pop("path")
    lines = render_human(view)
    lines.append(f"path: {path}")  # in full: an author copies it
    if source is not None:
        lines.append(f"source: {source.describe()}")
    lines.append("parameters:")
    rows = [{"name": name, "type": p["type"], "default": p.get("default"),
             "range/choices": p.get("choices") or _range(p), "description": p.get("description", "")}
            for name, p in params.items()]
    lines += ["  " + line for line in (format_table(rows, 100) if rows else ["(none)"])]
    emit("\n".join(lines), None)
    return 0


def _range(param: dict[str, Any]) -> str:
    low, high = param.get("min"), param.get("max")
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"


# ---- check ------------------------------------------------------------------------------------------------------

def _plugin_folder(target: str) -> Path | None:
    """The plugin folder a PATH argument names (a project folder holding one plugin folder is accepted)."""
    path = Path(target)
    if not ("/" in target or os.sep in target or target in (".", "..")):
        return None  # an id (a folder in the current directory is `./name`)
    if (path / "plugin.toml").is_file():
        return path.resolve()
    inside = [child for child in sorted(path.iterdir()) if (child / "plugin.toml").is_file()] if path.is_dir() else []
    if len(inside) == 1:
        return inside[0].resolve()
    raise UsageError(f"{target}: no plugin.toml in this folder" + (f" (it holds {len(inside)} plugin folders)"
                                                                   if inside else ""))


def _check(args: argparse.Namespace, settings: Settings) -> int:
    folder = _plugin_folder(args.target)
    registry = Registry(settings.plugin_path, entry_points=settings.use_entry_points,
                        plugin_folders=[folder] if folder else None)

    async def main() -> ConformanceReport:
        async with Kernel(settings, registry=registry) as kernel:  # makes the inputs the plugin requires
            if folder is not None:
                own = [p for p in registry.problems if Path(p.path).resolve() in (folder, folder / "plugin.toml")]
                if own:
                    raise UsageError(f"{own[0].path}: {own[0].reason}")
                manifest = next(m for m in registry if Path(m.path) == folder)
            else:
                manifest = registry.get(args.target)
            return await check_plugin(manifest, kernel, start_timeout_s=settings.start_timeout_s)

    report = asyncio.run(main())
    if args.json:
        emit(to_json(report), None)
        return 0 if report.ok else 1
    source = registry.sources.get(report.plugin)
    lines = [f"checking {report.plugin} {report.version} ({report.kind}) at {report.path}"
             + (f" [{source.describe()}]" if source else ""), f"  command: {' '.join(report.command)}"]
    for check in report.checks:
        lines.append(f"{check.status.upper():<5} {check.name}: {check.message}")
        if check.hint:
            lines.append(f"      hint: {check.hint}")
    failed = sum(check.status == "fail" for check in report.checks)
    warned = sum(check.status == "warn" for check in report.checks)
    if failed and report.stderr_tail:
        lines.append("stderr (last lines):")
        lines += [f"  | {line}" for line in report.stderr_tail[-15:]]
    lines.append(f"{report.plugin}: " + (f"{failed} check(s) failed" if failed else "conforms to qualia/1")
                 + (f", {warned} warning(s)" if warned else ""))
    emit("\n".join(lines), None)
    return 0 if report.ok else 1


# ---- the index --------------------------------------------------------------------------------------------------

def _search(args: argparse.Namespace, settings: Settings) -> int:
    index = plugin_index.load_index(args.index)
    found = plugin_index.search(index, args.term)
    installed = registry_of(settings).manifests
    if args.json:
        emit(to_json({"index": index.source, "plugins": [
            {**msgspec.to_builtins(entry), "installed": installed[entry.name].version
             if entry.name in installed else None} for entry in found]}), None)
        return 0
    if not found:
        emit(f"no plugin in {index.source} matches {args.term!r}", None)
        return 0
    rows = [{"name": entry.name, "kind": entry.kind, "version": entry.version,
             "installed": ("bundled" if entry.bundled else installed[entry.name].version)
             if entry.name in installed else "", "description": entry.description} for entry in found]
    emit("\n".join(format_table(rows, 1000, width=80) + [f"index: {index.source}"]), None)
    return 0


def _install(args: argparse.Namespace, settings: Settings) -> int:
    index = plugin_index.load_index(args.index)
    entry = plugin_index.find(index, args.name)
    if entry.bundled:
        print(f"{entry.name} is bundled with qualia-core: nothing to install")
        return 0
    command = plugin_index.install(index, entry, list(args.passthrough))
    registry = registry_of(settings)
    if entry.name not in registry.manifests:
        why = "; ".join(f"{p.path}: {p.reason}" for p in registry.problems) or "no qualia.plugins entry point names it"
        raise plugin_index.InstallFailed(f"pip installed {entry.distribution or entry.name}, but no plugin "
                                         f"{entry.name!r} is discovered: {why}", plugin=entry.name, command=command)
    manifest = registry.manifests[entry.name]
    print(f"installed {manifest.id} {manifest.version} ({registry.sources[manifest.id].describe()}) at "
          f"{manifest.path}", file=sys.stdout)
    return 0


# ---- a running server -------------------------------------------------------------------------------------------

def _remote(args: argparse.Namespace) -> int:
    if args.plugins_command == "reload":
        answer = post(args, f"/plugins/{quoted(args.plugin_id)}/reload")
        state = "reloaded" if answer.get("reloaded") else "unchanged"
        emit(f"{args.plugin_id} {answer.get('version', '')}: {state}"
             + (f" (also reloaded: {', '.join(answer['changed'])})" if answer.get("changed") else ""), None)
        return 0
    answer = post(args, f"/plugins/{quoted(args.plugin_id)}/breaker/reset")
    emit(f"{args.plugin_id}: breaker {answer.get('breaker', {}).get('state', 'closed')}", None)
    return 0


COMMAND = Command("plugins", add_parser, run)
