"""`qualia pipeline`: the steps of a pipeline file over files, figures and results.json to a folder.

Every file is read (kernel.readers) before anything runs. A transcript goes
through the cleaner first when no step of the pipeline provides `segments`
(`--raw` opts out), so a pipeline gives the numbers `analyze` gives.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..kernel import Kernel
from ..pipeline import load_pipeline, plan_pipeline, run_plan, with_cleaning
from ..settings import Settings
from .analysis import read_documents
from .command import Command, Subcommands, with_kernel
from .progress import step_display
from .render import emit, to_json


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    pipeline = commands.add_parser("pipeline", help="run a pipeline file over files",
                                   description="Run the steps of a pipeline file (TOML or JSON) over each FILE. "
                                               "The whole pipeline is checked before anything runs.")
    pipeline.add_argument("files", nargs="+", metavar="FILE")
    pipeline.add_argument("-f", "--pipeline-file", type=Path, metavar="PIPELINE",
                          help="pipeline file (default: the project's, see `qualia config show`)")
    pipeline.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                          help="folder for figures and results.json (default: the project's, else out)")
    pipeline.add_argument("--json", action="store_true", help="print every step's result as JSON")
    pipeline.add_argument("--no-cache", action="store_true", help="bypass the result cache")
    pipeline.add_argument("--raw", action="store_true",
                          help="do not put the cleaner first for transcripts when no step provides segments")
    pipeline.add_argument("--text-column", metavar="NAME",
                          help="CSV files: the column holding the text (one document per row)")
    return pipeline


def pipeline_path(settings: Settings) -> Path:
    """-f, else the project's default pipeline (or QUALIA_PIPELINE); a usage error when there is none."""
    if settings.pipeline is None:
        raise UsageError("no pipeline given: use -f PIPELINE, set QUALIA_PIPELINE, or run inside a project "
                         "(`qualia init`) whose qualia.toml names one")
    return settings.pipeline


async def pipeline(args: argparse.Namespace, kernel: Kernel) -> int:
    spec = load_pipeline(pipeline_path(kernel.settings))
    plan = plan_pipeline(kernel, spec)
    labelled = read_documents(args, kernel, args.files)  # read all before running any
    sources = [label for label, _ in labelled]
    documents = [document for _, document in labelled]
    ids = [doc.id for doc in documents]
    for index, doc in enumerate(documents):  # two files named alike must not share an output folder
        if ids.count(doc.id) > 1:
            doc.id = f"{doc.id}-{index + 1}"
    output_dir = kernel.settings.output_dir  # -o, else the project's or QUALIA_OUTPUT, else out
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for source, document in zip(sources, documents):
        steps = with_cleaning(kernel, plan, document, False if args.raw else None)
        with step_display() as display:
            run = await run_plan(kernel, steps, document, name=spec.name, output_dir=output_dir,
                                 use_cache=not args.no_cache, progress=display)
        runs.append(run)
        summary = ", ".join(f"{step.id}{' (cached)' if step.cached else ''}" for step in run.steps)
        print(f"{source}: {summary}", file=sys.stderr)
        for step in run.steps:
            if step.figure is not None:
                print(f"  {step.figure.path}", file=sys.stderr)
    results_path = output_dir / "results.json"
    results_path.write_text(to_json(runs), encoding="utf-8")
    print(f"results of every step: {results_path}", file=sys.stderr)
    if args.json:
        emit(to_json(runs), None)
    return 0


COMMAND = Command("pipeline", add_parser, with_kernel(pipeline))
