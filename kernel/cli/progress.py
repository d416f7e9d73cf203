"""Progress on the command line: a rich bar on a terminal, plain log lines otherwise.

`batch_display` renders a `BatchProgress` (documents done/total, rate, ETA,
failures so far; one line per document with `-v`) and the summary table.
`step_display` renders the plugins' `$/progress` notifications of
single-document commands (`analyze`, `visualize`, `pipeline`) on stderr, so
their stdout stays the result.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Any

from qualia.plugin_sdk import protocol as p

from ..corpus import BatchProgress, BatchReport, SourceOutcome
from ..corpus.work import Failure

__all__ = ["PlainBatchDisplay", "RichBatchDisplay", "StepDisplay", "batch_display", "print_summary", "step_display"]

PLAIN_EVERY_S = 2.0  # a plain progress line at most this often (failures are printed at once)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _failure_text(outcome: SourceOutcome) -> str:
    return "; ".join(f"{failure.step}: {failure.message}" for failure in outcome.failures())


class PlainBatchDisplay:
    """Log lines: a status line every few seconds, each failure at once, each document with -v."""

    def __init__(self, stream: IO[str], *, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self._last = 0.0

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _status(self, progress: BatchProgress) -> str:
        skipped = f", {progress.skipped} already done" if progress.skipped else ""
        return (f"batch: {progress.done}/{progress.total} documents, {progress.rate:.1f}/s, "
                f"ETA {_eta(progress.eta_s)}, {progress.failed} failed{skipped}")

    def started(self, progress: BatchProgress) -> None:
        self._last = time.monotonic()
        self._print(f"batch: {progress.total} to run" + (f", {progress.skipped} already done (skipped)"
                                                         if progress.skipped else ""))

    def source_done(self, progress: BatchProgress, outcome: SourceOutcome) -> None:
        if not outcome.ok:
            self._print(f"FAILED {outcome.path or outcome.key}: {_failure_text(outcome)}")
        elif self.verbose:
            elapsed = sum(document.elapsed_ms for document in outcome.documents)
            self._print(f"ok {outcome.key} ({elapsed:.0f} ms)")
        now = time.monotonic()
        if now - self._last >= PLAIN_EVERY_S or progress.done == progress.total:
            self._last = now
            self._print(self._status(progress))

    def step_progress(self, key: str, step: str, note: p.ProgressParams) -> None:
        if self.verbose and note.total and note.done >= note.total:
            self._print(f"  {key}: {step} {note.done:g}/{note.total:g}")

    def problem(self, path: str, failure: Failure) -> None:
        self._print(f"FAILED {path}: {failure.step}: {failure.message}")

    def finished(self, progress: BatchProgress) -> None:
        pass


class RichBatchDisplay:
    """A live bar redrawn in place; lines for failures (and documents with -v) scroll above it."""

    def __init__(self, stream: IO[str], *, verbose: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.console = Console(file=stream)
        self.verbose = verbose
        self.progress = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("[red]{task.fields[failed]}"), TimeElapsedColumn(), console=self.console)
        self.task: Any = None

    def started(self, progress: BatchProgress) -> None:
        if progress.skipped:
            self.console.print(f"{progress.skipped} already done (same bytes and pipeline): skipped")
        self.progress.start()
        self.task = self.progress.add_task("batch", total=progress.total, rate="", failed="")

    def source_done(self, progress: BatchProgress, outcome: SourceOutcome) -> None:
        if not outcome.ok:
            self.console.print(f"[red]FAILED[/red] {outcome.path or outcome.key}: {_failure_text(outcome)}",
                               markup=True, highlight=False)
        elif self.verbose:
            elapsed = sum(document.elapsed_ms for document in outcome.documents)
            self.console.print(f"[green]ok[/green] {outcome.key} ({elapsed:.0f} ms)", highlight=False)
        self.progress.update(self.task, completed=progress.done, rate=f"{progress.rate:.1f} docs/s",
                             failed=f"{progress.failed} failed" if progress.failed else "")

    def step_progress(self, key: str, step: str, note: p.ProgressParams) -> None:
        pass  # many documents are in flight: their steps' progress would only flicker

    def problem(self, path: str, failure: Failure) -> None:
        self.console.print(f"[red]FAILED[/red] {path}: {failure.step}: {failure.message}", highlight=False)

    def finished(self, progress: BatchProgress) -> None:
        self.progress.stop()


def batch_display(stream: IO[str] | None = None, *, verbose: bool = False) -> PlainBatchDisplay | RichBatchDisplay:
    stream = stream or sys.stdout
    if stream.isatty():
        return RichBatchDisplay(stream, verbose=verbose)
    return PlainBatchDisplay(stream, verbose=verbose)


def print_summary(report: BatchReport, stream: IO[str] | None = None) -> None:
    """The end of a batch: counts, then one row per failure (file, step, reason)."""
    stream = stream or sys.stdout
    rate = report.processed / report.elapsed_s if report.elapsed_s > 0 else 0.0
    lines = [f"summary: {report.found} found, {report.processed} run, {report.skipped} skipped (already done), "
             f"{report.succeeded} ok, {len(report.failures)} failed; {report.documents} documents analysed in "
             f"{report.elapsed_s:.1f} s ({rate:.1f}/s)"]
    if report.failures:
        width_file = min(60, max(len("file"), *(len(row.file) for row in report.failures)))
        width_step = max(len("step"), *(len(row.step) for row in report.failures))
        lines.append(f"  {'file'.ljust(width_file)}  {'step'.ljust(width_step)}  reason")
        for row in report.failures:
            lines.append(f"  {row.file.ljust(width_file)}  {row.step.ljust(width_step)}  {row.message}")
    if report.overview:
        lines.append(f"results: {report.out} (overview {report.overview})")
    print("\n".join(lines), file=stream, flush=True)


class StepDisplay:
    """A plugin's `$/progress` for one long document: a transient bar on a terminal, else a line every
    few seconds and at the end."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last: dict[str, float] = {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, step: str, note: p.ProgressParams) -> None:
        if self.tty:
            self._bar(step, note)
            return
        now = time.monotonic()
        finished = note.total is not None and note.done >= note.total
        if finished or now - self._last.get(step, 0.0) >= PLAIN_EVERY_S:
            self._last[step] = now
            total = f"/{note.total:g}" if note.total is not None else ""
            print(f"{step}: {note.done:g}{total}", file=self.stream, flush=True)

    def _bar(self, step: str, note: p.ProgressParams) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), console=Console(file=self.stream), transient=True)
            self._progress.start()
        if step not in self._tasks:
            self._tasks[step] = self._progress.add_task(step, total=note.total)
        self._progress.update(self._tasks[step], completed=note.done, total=note.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> "StepDisplay":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def step_display(stream: IO[str] | None = None) -> StepDisplay:
    return StepDisplay(stream or sys.stderr)
