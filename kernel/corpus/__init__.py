"""Corpus work: many documents through one pipeline, results streamed to disk, tables out.

`batch()` / `run_batch()` (what `qualia batch` runs), `export_corpus()` (what
`qualia export` runs) and `watch_folder()` (`qualia watch`) are the entry
points; the pieces are public so the service's jobs and other executors reuse
them: `discover` finds sources, `process_source` is the unit of work,
`Executor` / `LocalExecutor` run units, `CorpusStore` keeps results on disk,
`tables`, `exporters` and `qdpx` turn them into files a researcher opens.
"""
from .executor import Executor, LocalExecutor, default_workers, local_kernel
from .exporters import FORMATS, default_target, export_corpus, export_records
from .progress import BatchProgress, ProgressListener, SilentListener
from .runner import BatchPlan, BatchReport, FailureRow, batch, plan_sources, run_batch, run_sources
from .sources import Discovery, Source, discover
from .speakers import SpeakerNames, load_aliases, normalise
from .store import CorpusStore, DocumentRecord, IndexEntry
from .tables import COLUMNS, CORPUS_TABLES, TABLES, SpeakerStatsTotals, rows
from .work import (DocumentOutcome, Failure, SourceOutcome, WorkItem, WorkOptions, artefact_steps,
                   plan_fingerprint, process_source, run_document)

__all__ = [
    "COLUMNS", "CORPUS_TABLES", "FORMATS", "TABLES", "BatchPlan", "BatchProgress", "BatchReport", "CorpusStore",
    "Discovery", "DocumentOutcome", "DocumentRecord", "Executor", "Failure", "FailureRow", "IndexEntry",
    "LocalExecutor", "ProgressListener", "SilentListener", "Source", "SourceOutcome", "SpeakerNames",
    "SpeakerStatsTotals", "WorkItem", "WorkOptions",
    "artefact_steps", "batch", "default_target", "default_workers", "discover", "export_corpus", "export_records",
    "load_aliases", "local_kernel", "normalise", "plan_fingerprint", "plan_sources", "process_source", "rows",
    "run_batch", "run_document", "run_sources",
]
