"""The batch: sources through an executor into a `CorpusStore`, skipping what is already done.

`run_batch` is the engine behind `qualia batch`, `qualia watch` and the
menu; `batch()` is its plain synchronous entry point. A source is skipped
when the index records it finished ok with the same bytes (SHA-256) and the
same pipeline fingerprint, so a re-run, or a run after SIGKILL, only does
what is left. Corpus tables and the overview are rebuilt from disk at the end.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ..errors import UsageError
from ..pipeline import PipelineSpec, PlannedStep, load_pipeline, plan_pipeline
from ..settings import Settings
from .aggregates import write_corpus
from .executor import Executor, LocalExecutor, default_workers, local_kernel
from .progress import BatchProgress, ProgressListener, SilentListener
from .reading import file_digest
from .sources import Discovery, Source, discover
from .speakers import SpeakerNames, load_aliases
from .store import BatchManifest, CorpusStore, IndexEntry
from .work import Failure, WorkItem, WorkOptions, artefact_steps, plan_fingerprint

__all__ = ["BatchPlan", "BatchReport", "FailureRow", "batch", "plan_sources", "run_batch", "run_sources"]


class FailureRow(msgspec.Struct, kw_only=True):
    file: str
    step: str
    code: str
    message: str


class BatchReport(msgspec.Struct, kw_only=True):
    out: str
    found: int = 0             # sources found
    processed: int = 0         # run in this batch
    skipped: int = 0           # already done with the same bytes and pipeline
    succeeded: int = 0
    failed: int = 0
    documents: int = 0         # documents analysed in this batch
    elapsed_s: float = 0.0
    failures: list[FailureRow] = []
    overview: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


class BatchPlan(msgspec.Struct, kw_only=True):
    """What a batch would do (`--dry-run`): each source and whether it runs or is skipped."""

    run: list[Source]
    skip: list[Source]
    problems: list[FailureRow]


def plan_sources(discovery: Discovery, store: CorpusStore, fingerprint: str, *, force: bool = False) -> BatchPlan:
    """Split the sources into those to run and those already done (same bytes, same pipeline, ok)."""
    done = {} if force else store.current()
    run: list[Source] = []
    skip: list[Source] = []
    for source in discovery.sources:
        entry = done.get(source.key)
        if entry is not None and _unchanged(entry, source, fingerprint):
            skip.append(source)
        else:
            run.append(source)
    problems = [FailureRow(file=problem.path, step="find", code="not_found", message=problem.reason)
                for problem in discovery.problems]
    return BatchPlan(run=run, skip=skip, problems=problems)


def _unchanged(entry: IndexEntry, source: Source, fingerprint: str) -> bool:
    if not entry.ok or entry.pipeline != fingerprint or not entry.sha256:
        return False
    try:
        return file_digest(source.path) == entry.sha256
    except OSError:
        return False


async def run_sources(executor: Executor, plan: list[PlannedStep], spec: PipelineSpec, store: CorpusStore,
                      sources: Sequence[Source], *, fingerprint: str, listener: ProgressListener | None = None,
                      progress: BatchProgress | None = None, report: BatchReport | None = None) -> BatchReport:
    """Run `sources` and record each outcome as it arrives; the report counts this run only."""
    listener = listener or SilentListener()
    artefacts = artefact_steps(plan)
    progress = progress or BatchProgress()
    progress.total += len(sources)
    report = report or BatchReport(out=str(store.out))
    items = [WorkItem(key=source.key, path=source.path) for source in sources]  # sized: a cluster sizes its chunks
    listener.started(progress)
    relay = listener.step_progress
    async for outcome in executor.map(items, plan, pipeline=spec.name, progress=relay):
        store.record(outcome, fingerprint, pipeline=spec.name, artefacts=artefacts)
        progress.done += 1
        progress.documents += sum(1 for document in outcome.documents if document.ok)
        report.processed += 1
        report.documents += sum(1 for document in outcome.documents if document.ok)
        if outcome.ok:
            report.succeeded += 1
        else:
            progress.failed += 1
            report.failed += 1
            report.failures += [_failure_row(outcome.path or outcome.key, failure) for failure in outcome.failures()]
        listener.source_done(progress, outcome)
    return report


def _failure_row(file: str, failure: Failure) -> FailureRow:
    return FailureRow(file=file, step=failure.step, code=failure.code, message=failure.message)


def prepare_store(out: Path, spec: PipelineSpec, plan: list[PlannedStep], aliases: dict[str, str],
                  fingerprint: str) -> CorpusStore:
    store = CorpusStore(out)
    store.open(BatchManifest(pipeline=msgspec.to_builtins(spec), fingerprint=fingerprint,
                             artefacts=artefact_steps(plan), aliases=aliases))
    return store


def finish_store(store: CorpusStore, aliases: dict[str, str], title: str) -> str:
    """Compact the index and rebuild the corpus tables and overview from disk."""
    store.compact()
    return str(write_corpus(store, SpeakerNames(aliases), title=title))


async def run_batch(paths: Sequence[str | Path], pipeline: Path | PipelineSpec, out: Path, *,
                    settings: Settings | None = None, workers: int | None = None, include: Sequence[str] = (),
                    exclude: Sequence[str] = (), aliases: Path | dict[str, str] | None = None,
                    listener: ProgressListener | None = None, force: bool = False, clean: bool | None = None,
                    text_column: str | None = None, executor: Executor | None = None, kernel: Any = None
                    ) -> BatchReport:
    """Everything `qualia batch` does, as a function: find, plan, skip what is done, run, aggregate.

    Give `kernel` (and optionally `executor`) to reuse a running kernel; otherwise one is started with
    every plugin's process pool sized to `workers` (default: the number of cores) and stopped at the end.
    `clean=False` leaves transcripts as they are (`--raw`); `text_column` reads CSV rows as documents.
    """
    settings = settings or Settings.from_env()
    workers = workers or default_workers()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    spec = pipeline if isinstance(pipeline, PipelineSpec) else load_pipeline(Path(pipeline))
    alias_map = aliases if isinstance(aliases, dict) else (load_aliases(aliases) if aliases else {})
    discovery = discover(paths, include=include, exclude=exclude, skip=[out])
    reading = WorkOptions(clean=clean, text_column=text_column, limits=settings.archive_limits)
    if kernel is None:
        async with local_kernel(settings, workers) as own:
            return await _run(own, executor, spec, out, discovery, alias_map, listener, force, workers, reading)
    return await _run(kernel, executor, spec, out, discovery, alias_map, listener, force, workers, reading)


async def _run(kernel: Any, executor: Executor | None, spec: PipelineSpec, out: Path, discovery: Discovery,
               aliases: dict[str, str], listener: ProgressListener | None, force: bool, workers: int,
               options: WorkOptions) -> BatchReport:
    listener = listener or SilentListener()
    plan = plan_pipeline(kernel, spec)
    fingerprint = plan_fingerprint(plan, options)
    store = prepare_store(out, spec, plan, aliases, fingerprint)
    try:
        batch_plan = plan_sources(discovery, store, fingerprint, force=force)
        progress = BatchProgress(skipped=len(batch_plan.skip))
        report = BatchReport(out=str(out), found=len(discovery.sources), skipped=len(batch_plan.skip),
                             failures=list(batch_plan.problems))
        for problem in batch_plan.problems:
            listener.problem(problem.file, Failure(step=problem.step, code=problem.code, message=problem.message))
        if executor is None:
            executor = LocalExecutor(kernel, workers=workers, options=options)
        elif plan_fingerprint(plan, getattr(executor, "options", options)) != fingerprint:
            raise UsageError("the executor given reads sources otherwise than this batch (clean, text_column): "
                             "make it with the same options")
        await run_sources(executor, plan, spec, store, batch_plan.run, fingerprint=fingerprint, listener=listener,
                          progress=progress, report=report)
        report.elapsed_s = round(progress.elapsed_s, 3)
        report.overview = finish_store(store, aliases, f"Qualia batch: {spec.name}")
        listener.finished(progress)
        return report
    finally:
        store.close()


def batch(paths: Sequence[str | Path], pipeline: Path | PipelineSpec, out: Path, **options: Any) -> BatchReport:
    """Synchronous `run_batch` for callers without an event loop (the menu, scripts)."""
    return asyncio.run(run_batch(paths, pipeline, Path(out), **options))
