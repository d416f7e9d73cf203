"""`qualia analyze` and `qualia process`: one plugin over files, result to stdout or a file."""
from __future__ import annotations

import argparse
from pathlib import Path

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Manifest

from ..errors import BadRequest, UsageError
from ..inputs import load_document
from ..kernel import Kernel
from .command import Command, Subcommands, with_kernel
from .params import parse_parameter
from .render import emit, render_human, to_json


def add_plugin_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument("-p", "--plugin", required=True, metavar="ID", help=f"{kind} plugin id")
    parser.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="plugin parameter (repeatable)")
    parser.add_argument("--no-cache", action="store_true", help="bypass the result cache")


def plugin_of_kind(kernel: Kernel, plugin_id: str, kind: str, command: str) -> Manifest:
    manifest = kernel.registry.get(plugin_id)
    if manifest.kind != kind:
        raise UsageError(f"plugin {manifest.id!r} is a {manifest.kind} plugin; {command} runs {kind} plugins")
    return manifest


def read_document(source: str) -> Document:
    try:
        return load_document(source)
    except OSError as exc:
        raise BadRequest(f"cannot read {source}: {exc.strerror or exc}") from None


def add_analyze_parser(commands: Subcommands) -> argparse.ArgumentParser:
    analyze = commands.add_parser("analyze", help="run an analyzer on files",
                                  description="Run an analyzer plugin on each FILE ('-' reads stdin).")
    analyze.add_argument("files", nargs="+", metavar="FILE")
    add_plugin_arguments(analyze, "analyzer")
    analyze.add_argument("--json", action="store_true",
                         help="exact JSON: the result for one file, a list of {file, result} for several")
    analyze.add_argument("-o", "--output", type=Path, metavar="OUT", help="write to OUT instead of stdout")
    return analyze


async def analyze(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "analyzer", "analyze")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    kernel.prepare_config(manifest, config)  # fail before reading any file
    results = []
    for source in args.files:
        outcome = await kernel.run(manifest.id, read_document(source), config, use_cache=not args.no_cache)
        results.append({"file": source, "result": outcome.result})  # type: ignore[union-attr]
    if args.json:
        emit(to_json(results[0]["result"] if len(results) == 1 else results), args.output)
        return 0
    lines: list[str] = []
    for item in results:
        lines.append(f"== {item['file']} ({manifest.id})")
        lines += render_human(item["result"])
    emit("\n".join(lines), args.output)
    return 0


def add_process_parser(commands: Subcommands) -> argparse.ArgumentParser:
    process = commands.add_parser("process", help="run a document plugin on a file",
                                  description="Run a document plugin (e.g. teams_cleaner) on FILE; prints the "
                                              "resulting Document as JSON.")
    process.add_argument("file", metavar="FILE")
    add_plugin_arguments(process, "document")
    process.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the Document JSON to OUT")
    return process


async def process(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "document", "process")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    kernel.prepare_config(manifest, config)
    outcome = await kernel.run(manifest.id, read_document(args.file), config, use_cache=not args.no_cache)
    emit(to_json(outcome.document), args.output)  # type: ignore[union-attr]
    return 0


ANALYZE = Command("analyze", add_analyze_parser, with_kernel(analyze))
PROCESS = Command("process", add_process_parser, with_kernel(process))
