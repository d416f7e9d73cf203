"""`qualia visualize`: one figure from one file; the analyzers it needs run first.

The figure's format comes from `--format`, else from the suffix of `-o`
(`.png`, `.svg`, `.html`/`.htm`), else the plugin's first; a suffix that
contradicts `--format` is a usage error. A transcript is cleaned first, as
everywhere (`--raw` opts out); the rows of a CSV make one figure.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..inputs import combine_rows
from ..kernel import Kernel
from .analysis import add_input_arguments, add_plugin_arguments, clean_option, plugin_of_kind, read_documents
from .command import Command, Subcommands, with_kernel
from .params import parse_parameter

SUFFIX_FORMATS = {".png": "png", ".svg": "svg", ".html": "html", ".htm": "html"}


def figure_format(output: Path, requested: str | None) -> str | None:
    """The format to draw: `--format`, else the suffix of OUT; both given must agree."""
    implied = SUFFIX_FORMATS.get(output.suffix.lower())
    if requested and implied and requested != implied:
        raise UsageError(f"--format {requested} contradicts the suffix of -o {output} ({implied}): change one",
                         format=requested, output=str(output))
    return requested or implied


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    visualize = commands.add_parser("visualize", help="draw a figure from a file",
                                    description="Run a visualizer on FILE; the analyzers it needs run first.")
    visualize.add_argument("file", metavar="FILE")
    add_plugin_arguments(visualize, "visualizer")
    visualize.add_argument("--format", choices=["png", "svg", "html"],
                           help="figure format (default: the suffix of OUT, else the plugin's first)")
    visualize.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="figure file to write")
    add_input_arguments(visualize)
    return visualize


async def visualize(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "visualizer", "visualize")
    config = dict(parse_parameter(manifest, item) for item in args.param)
    fmt = figure_format(args.output, args.format)
    if fmt:
        if config.setdefault("format", fmt) != fmt:
            raise UsageError(f"-P format={config['format']} contradicts the figure format {fmt} (from --format "
                             f"or the suffix of -o {args.output})")
    config = kernel.prepare_config(manifest, config)
    document = combine_rows([document for _, document in read_documents(args, kernel, [args.file])])
    analysis = await kernel.analyze(manifest.id, document, config, clean=clean_option(args), validated=True,
                                    use_cache=not args.no_cache)
    figure = analysis.target.figure
    assert figure is not None and figure.data is not None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(figure.data)
    steps = " -> ".join(step.plugin for step in analysis.steps)
    print(f"wrote {args.output} ({figure.media_type}, {figure.size} bytes) via {steps}", file=sys.stderr)
    return 0


COMMAND = Command("visualize", add_parser, with_kernel(visualize))
