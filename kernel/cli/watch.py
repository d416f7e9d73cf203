"""`qualia watch DIR -f PIPELINE -o OUT`: keep OUT in step with a folder until Ctrl-C.

The engine is `qualia.kernel.corpus.watcher.watch_folder`; results are the
same as `qualia batch DIR` would give. SIGINT (Ctrl-C) and SIGTERM stop it
cleanly: the current round is cancelled, plugins stop, the index stays whole.
`--cluster` (or QUALIA_DASK_SCHEDULER) runs each round on Dask, as `qualia
batch --cluster` does; the cluster closes after the watch.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from ..corpus import BatchReport, SourceOutcome, WorkOptions, default_workers
from ..corpus.executor import DASK_INSTALL
from ..corpus.watcher import watch_folder
from ..errors import UsageError
from ..settings import Settings
from .batch import print_cluster, quiet_dask
from .command import Command, Subcommands
from .pipelines import pipeline_path
from .progress import PlainBatchDisplay, print_summary


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    watch = commands.add_parser(
        "watch", help="process new and changed files of a folder as they arrive (Ctrl-C stops)",
        description="Run the pipeline over DIR like `qualia batch`, then keep watching: new or changed files "
                    "are processed once they stop changing, deleted ones leave the index, a bad file is "
                    "reported and watching goes on. Ctrl-C stops cleanly.")
    watch.add_argument("folder", type=Path, metavar="DIR")
    watch.add_argument("-f", "--pipeline-file", type=Path, metavar="PIPELINE",
                       help="pipeline file (default: the project's, see `qualia config show`)")
    watch.add_argument("-o", "--output-dir", type=Path, metavar="OUT",
                       help="output folder (default: the project's, else out)")
    watch.add_argument("--include", action="append", default=[], metavar="GLOB")
    watch.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    watch.add_argument("--workers", type=int, metavar="N", help=f"default: cores ({default_workers()})")
    watch.add_argument("--aliases", type=Path, metavar="FILE", help="speaker aliases for the corpus tables")
    watch.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="one line per document (and kernel events on stderr)")
    watch.add_argument("--raw", action="store_true", help="do not clean transcripts the pipeline does not clean")
    watch.add_argument("--text-column", metavar="NAME", help="CSV/TSV files: one document per row, text from NAME")
    watch.add_argument("--quiet-ms", type=int, default=500, metavar="MS",
                       help="a file is read once the folder has been quiet this long (default 500)")
    watch.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                       help="process the files on a Dask cluster, one Qualia kernel per worker, as `qualia batch "
                            "--cluster` does (env QUALIA_DASK_SCHEDULER, qualia.toml [batch] cluster; "
                            f"needs {DASK_INSTALL})")
    return watch


class WatchDisplay(PlainBatchDisplay):
    """Plain lines (a watch is a log): each document, each failure, each removal, each round."""

    def started(self, progress) -> None:  # type: ignore[no-untyped-def]
        if progress.total:
            self._print(f"watch: processing {progress.total} file(s)")

    def source_done(self, progress, outcome: SourceOutcome) -> None:  # type: ignore[no-untyped-def]
        if outcome.ok:
            self._print(f"ok {outcome.key}")
        else:
            self._print(f"FAILED {outcome.path or outcome.key}: "
                        + "; ".join(f"{f.step}: {f.message}" for f in outcome.failures()))

    def watching(self, folder: str) -> None:
        self._print(f"watching {folder} (Ctrl-C stops)")

    def removed(self, key: str) -> None:
        self._print(f"removed {key}")

    def round_done(self, report: BatchReport) -> None:
        if report.processed:
            print_summary(report, self.stream)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder}: not a folder")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    cluster = settings.cluster  # --cluster < QUALIA_DASK_SCHEDULER < [batch] cluster, as for qualia batch
    if cluster and args.workers is not None:
        raise UsageError(f"--workers sizes the local executor, but this watch runs on the Dask cluster {cluster} "
                         f"({settings.origin('cluster')}); on a cluster the workers are the cluster's "
                         f"(--cluster local:N)")
    display = WatchDisplay(sys.stdout, verbose=args.verbose)

    async def watch(executor: Any = None) -> None:
        """The watch until `stop`; stopped during a round, the round is cancelled (the store keeps what finished)."""
        if stop.is_set():  # Ctrl-C while a cluster was starting
            return
        task = asyncio.ensure_future(watch_folder(
            args.folder, pipeline_path(settings), settings.output_dir, settings=settings,
            workers=1 if executor is not None else args.workers, include=args.include, exclude=args.exclude,
            aliases=args.aliases or settings.speaker_aliases or None, listener=display, stop=stop,
            quiet_ms=args.quiet_ms, clean=False if args.raw else None, text_column=args.text_column,
            executor=executor))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.sleep(0)
            task.cancel()
        stopping.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def on_cluster() -> None:
        """The same watch with the Dask executor; the cluster closes (its kernels and plugins stop) after it."""
        from ..corpus.dask_executor import open_cluster

        quiet_dask(args.verbose)
        options = WorkOptions(clean=False if args.raw else None, text_column=args.text_column)
        async with open_cluster(cluster, settings, options=options) as executor:
            print_cluster(executor)
            await watch(executor)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await (on_cluster() if cluster else watch())
        print("watch: stopped", flush=True)
        return 0

    stop = asyncio.Event()
    return asyncio.run(main())


COMMAND = Command("watch", add_parser, run)
