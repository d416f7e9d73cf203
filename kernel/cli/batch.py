"""`qualia batch PATH... -f PIPELINE -o OUT`: a folder of documents through a pipeline, results to disk.

The engine is `qualia.kernel.corpus.run_batch`; this module parses flags and
renders progress. Exit 0 when every document succeeded, 1 when some failed
(each reported with file, step and reason), 2 for a usage error. `--cluster`
runs the same batch on Dask (`corpus.dask_executor`, the `dask` extra).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any
from pathlib import Path

from ..corpus import (BatchReport, CorpusStore, ProgressListener, WorkOptions, default_workers, discover,
                      plan_fingerprint, plan_sources, run_batch)
from ..corpus.executor import DASK_INSTALL, local_kernel
from ..errors import UsageError
from ..pipeline import load_pipeline, plan_pipeline
from ..settings import Settings
from .command import Command, Subcommands
from .pipelines import pipeline_path
from .progress import batch_display, print_summary


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    batch = commands.add_parser(
        "batch", help="run a pipeline over files, folders and globs; results stream to OUT",
        description="Run the pipeline over every file found in PATH (files, folders searched recursively, "
                    "globs), in parallel. Each document's results land in OUT/docs/, the index in "
                    "OUT/index.jsonl, corpus tables in OUT/corpus/ and an overview in OUT/index.html. A re-run "
                    "skips documents whose bytes and pipeline are unchanged.")
    batch.add_argument("paths", nargs="+", metavar="PATH")
    batch.add_argument("-f", "--pipeline-file", type=Path, metavar="PIPELINE",
                       help="pipeline file (default: the project's, see `qualia config show`)")
    batch.add_argument("-o", "--output-dir", type=Path, metavar="OUT",
                       help="output folder (default: the project's, else out)")
    batch.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="only files whose relative path or name matches (repeatable), e.g. '*.vtt'")
    batch.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="skip files whose relative path or name matches (repeatable)")
    batch.add_argument("--workers", type=int, metavar="N",
                       help=f"documents in parallel, and processes per plugin (default: cores, here "
                            f"{default_workers()})")
    batch.add_argument("--aliases", type=Path, metavar="FILE",
                       help="speaker aliases (TOML or JSON: alias = \"name\") for the corpus tables "
                            "(default: the project's [aliases])")
    batch.add_argument("--raw", action="store_true", help="do not clean transcripts the pipeline does not clean")
    batch.add_argument("--text-column", metavar="NAME", help="CSV/TSV files: one document per row, text from NAME")
    batch.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    batch.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="one line per document (and kernel events on stderr)")
    batch.add_argument("--force", action="store_true", help="redo every document, even those already done")
    batch.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                       help="run on a Dask cluster, one Qualia kernel per worker: local:N starts N worker "
                            "processes here, an address joins an existing scheduler (env QUALIA_DASK_SCHEDULER, "
                            f"qualia.toml [batch] cluster; needs {DASK_INSTALL})")
    return batch


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.dry_run:
        return asyncio.run(dry_run(args, settings))
    cluster = settings.cluster  # --cluster < QUALIA_DASK_SCHEDULER < [batch] cluster, as every setting
    if cluster and args.workers is not None:
        came_from = settings.origin("cluster")
        raise UsageError(f"--workers sizes the local executor, but this batch runs on the Dask cluster {cluster} "
                         f"({came_from}); on a cluster the workers are the cluster's (--cluster local:N)")
    display = batch_display(sys.stdout, verbose=args.verbose)
    aliases = args.aliases or settings.speaker_aliases or None  # --aliases, else the project's [aliases]
    report = asyncio.run(on_cluster(args, settings, display, cluster, aliases) if cluster else run_batch(
        args.paths, pipeline_path(settings), settings.output_dir, settings=settings, workers=args.workers,
        include=args.include, exclude=args.exclude, aliases=aliases, listener=display, force=args.force,
        clean=False if args.raw else None, text_column=args.text_column))
    print_summary(report)
    return report.exit_code


async def on_cluster(args: argparse.Namespace, settings: Settings, display: ProgressListener,
                     cluster: str, aliases: Any) -> BatchReport:
    """The same batch with the Dask executor (imported only here: Dask is an optional extra)."""
    from ..corpus.dask_executor import open_cluster

    quiet_dask(args.verbose)
    clean, text_column = (False if args.raw else None), args.text_column
    options = WorkOptions(clean=clean, text_column=text_column)
    async with open_cluster(cluster, settings, options=options) as executor:
        print_cluster(executor)
        return await run_batch(args.paths, pipeline_path(settings), settings.output_dir, settings=settings, workers=1,
                               include=args.include, exclude=args.exclude, aliases=aliases, listener=display,
                               force=args.force, clean=clean, text_column=text_column, executor=executor)


def quiet_dask(verbose: bool) -> None:
    """Dask logs every worker's start, stop, restart and lost result; the batch reports what matters itself."""
    level = logging.WARNING if verbose else logging.CRITICAL
    for name in [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "distributed"]:
        logging.getLogger(name).setLevel(level)


def print_cluster(executor: Any) -> None:
    """Where the work runs, and Dask's dashboard when the scheduler serves one (bokeh installed there)."""
    print(f"cluster: {executor.where}, {executor.worker_processes} worker(s) with a Qualia kernel each, "
          f"{executor.workers} documents at a time", flush=True)
    if executor.dashboard_link:
        print(f"dashboard: {executor.dashboard_link}", flush=True)


async def dry_run(args: argparse.Namespace, settings: Settings) -> int:
    spec = load_pipeline(pipeline_path(settings))
    discovery = discover(args.paths, include=args.include, exclude=args.exclude, skip=[settings.output_dir])
    async with local_kernel(settings, 1) as kernel:  # plans only: no plugin starts
        plan = plan_pipeline(kernel, spec)
    options = WorkOptions(clean=False if args.raw else None, text_column=args.text_column)
    planned = plan_sources(discovery, CorpusStore(settings.output_dir), plan_fingerprint(plan, options),
                           force=args.force)
    for source in planned.run:
        print(f"run   {source.path}")
    for source in planned.skip:
        print(f"skip  {source.path} (already done)")
    for problem in planned.problems:
        print(f"error {problem.file}: {problem.message}")
    steps = " -> ".join(step.id for step in plan)
    print(f"dry run: {len(planned.run)} to run, {len(planned.skip)} already done, {len(planned.problems)} "
          f"problem(s); pipeline {spec.name}: {steps}; nothing was run")
    return 1 if planned.problems else 0


COMMAND = Command("batch", add_parser, run)
