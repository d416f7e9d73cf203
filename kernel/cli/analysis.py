"""`qualia analyze` and `qualia process`: one plugin over files, result to stdout or a file.

Files are read by `kernel.readers` (any common encoding, PDF, .docx, .vtt,
.srt, .md, CSV rows with `--text-column`) before anything runs; a file that
cannot be read stops the command with exit 2, naming it and the reason.
`analyze` cleans transcripts first, as every command does (`--raw` opts out).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Manifest

from ..errors import UsageError
from ..inputs import read_inputs
from ..kernel import Kernel
from .command import Command, Subcommands, with_kernel
from .params import parse_parameter
from .progress import step_display
from .render import emit, render_human, to_json


def add_plugin_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument("-p", "--plugin", required=True, metavar="ID", help=f"{kind} plugin id")
    parser.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="plugin parameter (repeatable); KEY=@FILE reads the value from FILE: JSON when it "
                             "ends in .json, else text (a list: one item per line); KEY=@@... is a value "
                             "starting with @")
    parser.add_argument("--no-cache", action="store_true", help="bypass the result cache")


def plugin_of_kind(kernel: Kernel, plugin_id: str, kind: str, command: str) -> Manifest:
    manifest = kernel.registry.get(plugin_id)
    if manifest.kind != kind:
        raise UsageError(f"plugin {manifest.id!r} is a {manifest.kind} plugin; {command} runs {kind} plugins")
    return manifest


def add_input_arguments(parser: argparse.ArgumentParser, *, cleaning: bool = True) -> None:
    parser.add_argument("--text-column", metavar="NAME",
                        help="CSV files: the column holding the text (one document per row, the other columns "
                             "in metadata)")
    if cleaning:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--raw", action="store_true",
                           help="do not clean transcripts first (they are cleaned by default, like in pipelines)")
        group.add_argument("--clean", action="store_true", help="clean any text first, not only transcripts")


def clean_option(args: argparse.Namespace) -> bool | None:
    """`--clean` / `--raw` as `Kernel.analyze`'s `clean`: True, False, or None (transcripts only)."""
    return True if args.clean else False if args.raw else None


def read_documents(args: argparse.Namespace, kernel: Kernel, sources: list[str]) -> list[tuple[str, Document]]:
    return read_inputs(sources, text_column=args.text_column, limits=kernel.settings.archive_limits)


def add_analyze_parser(commands: Subcommands) -> argparse.ArgumentParser:
    analyze = commands.add_parser("analyze", help="run an analyzer on files",
                                  description="Run an analyzer plugin on each FILE ('-' reads stdin): text in "
                                              "any common encoding, PDF, .docx, .vtt, .srt, .md, or CSV rows "
                                              "(--text-column). Transcripts are cleaned first unless --raw.")
    analyze.add_argument("files", nargs="+", metavar="FILE")
    add_plugin_arguments(analyze, "analyzer")
    analyze.add_argument("--json", action="store_true",
                         help="exact JSON: the result for one file, a list of {file, result} for several")
    analyze.add_argument("-o", "--output", type=Path, metavar="OUT", help="write to OUT instead of stdout")
    add_input_arguments(analyze)
    return analyze


async def analyze(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "analyzer", "analyze")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    config = kernel.prepare_config(manifest, config)  # fail before reading any file
    results = []
    with step_display() as display:  # the plugins' $/progress on stderr: stdout stays the result
        for label, document in read_documents(args, kernel, args.files):
            analysis = await kernel.analyze(manifest.id, document, config, clean=clean_option(args), validated=True,
                                            use_cache=not args.no_cache, step_progress=display)
            results.append({"file": label, "result": analysis.target.result})
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
                                              "resulting Document as JSON (a list for the rows of a CSV). The "
                                              "text goes to the plugin as read: nothing is cleaned first.")
    process.add_argument("file", metavar="FILE")
    add_plugin_arguments(process, "document")
    process.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the Document JSON to OUT")
    add_input_arguments(process, cleaning=False)
    return process


async def process(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "document", "process")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    config = kernel.prepare_config(manifest, config)
    documents = []
    with step_display() as display:
        for _, document in read_documents(args, kernel, [args.file]):
            analysis = await kernel.analyze(manifest.id, document, config, clean=False, validated=True,
                                            use_cache=not args.no_cache, step_progress=display)
            documents.append(analysis.target.document)
    emit(to_json(documents[0] if len(documents) == 1 else documents), args.output)  # a CSV: one per row
    return 0


ANALYZE = Command("analyze", add_analyze_parser, with_kernel(analyze))
PROCESS = Command("process", add_process_parser, with_kernel(process))
