"""`qualia visualize`: one figure from one file; the analyzers it needs run first."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..kernel import Kernel
from ..pipeline import plan_for_target, run_plan
from .analysis import add_plugin_arguments, plugin_of_kind, read_document
from .command import Command, Subcommands, with_kernel
from .params import parse_parameter


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    visualize = commands.add_parser("visualize", help="draw a figure from a file",
                                    description="Run a visualizer on FILE; the analyzers it needs run first.")
    visualize.add_argument("file", metavar="FILE")
    add_plugin_arguments(visualize, "visualizer")
    visualize.add_argument("--format", choices=["png", "svg", "html"],
                           help="figure format (default: the plugin's first)")
    visualize.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="figure file to write")
    visualize.add_argument("--clean", action="store_true", help="parse the transcript with teams_cleaner first")
    return visualize


async def visualize(args: argparse.Namespace, kernel: Kernel) -> int:
    manifest = plugin_of_kind(kernel, args.plugin, "visualizer", "visualize")
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


COMMAND = Command("visualize", add_parser, with_kernel(visualize))
