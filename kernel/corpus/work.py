"""The unit of corpus work: one source (a file, or a Document already in hand) through a planned pipeline.

`process_source` is a pure function of (work item, plan) apart from the
plugin calls it makes through the kernel it is given, so any executor can
run it: the local one in the kernel's own event loop, a distributed one
with one kernel per worker. It never raises for a bad document: reading
and step failures become the outcome (`step`, `code`, `message`), so the
batch goes on. Figures come back as bytes; the driver writes them.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import PurePath
from typing import Any, Callable

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document

from ..errors import QualiaError, Unavailable
from ..pipeline import PlannedStep, run_plan, with_cleaning
from .reading import read_bytes, read_file, source_bytes

__all__ = ["DocumentOutcome", "Failure", "SourceOutcome", "StepProgress", "WorkItem", "WorkOptions",
           "artefact_steps", "load_item", "plan_fingerprint", "process_source", "run_document"]

log = logging.getLogger("qualia.corpus")

StepProgress = Callable[[str, str, p.ProgressParams], None]  # (work key, step id, the plugin's $/progress)

_ENCODER = msgspec.json.Encoder()

STORE_FORMAT = 1  # part of every fingerprint: a new layout of results redoes old ones


class WorkItem(msgspec.Struct, kw_only=True, frozen=True):
    """What a worker needs: where the text is (`path`) or the text itself (`document`)."""

    key: str
    path: str | None = None
    document: Document | None = None
    request_id: str | None = None             # reaches the plugins (logs, the job's document)
    data: bytes | None = None                 # `path`'s bytes, read where the batch runs (`load_item`)


class WorkOptions(msgspec.Struct, kw_only=True, frozen=True):
    """How the unit runs: the batch's defaults, or a job's (cache on, figures kept inline, retry later)."""

    use_cache: bool = False
    figures_inline: bool = False              # keep figure bytes in the run (a job's JSON) instead of apart
    raise_unavailable: bool = False           # a busy plugin, an open breaker: raise, the caller retries
    clean: bool | None = None                 # transcripts: None cleans those that need it, False never (--raw)
    text_column: str | None = None            # CSV sources: the column holding each row's text
    limits: Any = None                        # ArchiveLimits for .docx files (None: from the environment)


class Failure(msgspec.Struct, kw_only=True, omit_defaults=True):
    step: str      # "read", or the id of the pipeline step that failed
    code: str
    message: str
    details: dict[str, Any] = {}  # the error's details (plugin, stderr tail, ...): jobs show them


class DocumentOutcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    document_id: str
    ok: bool
    run: msgspec.Raw | None = None            # the PipelineRun as JSON, figures without their bytes
    figures: dict[str, bytes] = {}            # step id -> figure bytes (written by the store)
    formats: dict[str, str] = {}              # step id -> figure format
    error: Failure | None = None
    elapsed_ms: float = 0.0


class SourceOutcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    key: str
    path: str | None
    sha256: str
    documents: list[DocumentOutcome] = []
    error: Failure | None = None              # the source itself could not be read

    @property
    def ok(self) -> bool:
        return self.error is None and all(document.ok for document in self.documents)

    def failures(self) -> list[Failure]:
        if self.error is not None:
            return [self.error]
        return [document.error for document in self.documents if document.error is not None]


def plan_fingerprint(plan: list[PlannedStep], options: WorkOptions | None = None) -> str:
    """A hash of what the pipeline computes: each step's plugin, version and full config, and how sources are
    read (cleaning, CSV text column)."""
    described = [{"id": step.id, "plugin": step.manifest.id, "version": step.manifest.version,
                  "config": step.config} for step in plan]
    options = options or WorkOptions()
    reading = {"clean": options.clean, "text_column": options.text_column}
    encoded = msgspec.json.encode({"format": STORE_FORMAT, "steps": described, "reading": reading},
                                  order="sorted")
    return hashlib.sha256(encoded).hexdigest()[:32]


def artefact_steps(plan: list[PlannedStep]) -> dict[str, str]:
    """Which step provides each artefact (`word_frequencies` -> the step id), the last one winning."""
    provided: dict[str, str] = {}
    for step in plan:
        for artefact in step.manifest.provides:
            provided[artefact] = step.id
    return provided


def _failure(exc: BaseException, default_step: str) -> Failure:
    if isinstance(exc, QualiaError):
        details = msgspec.json.decode(_ENCODER.encode(exc.details))  # JSON-safe
        return Failure(step=str(exc.details.get("step") or default_step), code=exc.code, message=exc.message,
                       details=details)
    return Failure(step=default_step, code="internal_error", message=f"internal error: {exc!r}")


async def process_source(kernel: Any, plan: list[PlannedStep], item: WorkItem, *, pipeline: str = "pipeline",
                         options: WorkOptions = WorkOptions(), progress: StepProgress | None = None
                         ) -> SourceOutcome:
    """Read the item and run the plan over each of its documents; failures are the outcome, not raised."""
    if item.document is not None:
        documents, digest = [item.document], _document_digest(item.document)
    else:
        assert item.path is not None
        try:
            if item.data is not None:
                digest = hashlib.sha256(item.data).hexdigest()
                documents = read_bytes(item.data, PurePath(item.path).name, label=item.path,
                                       text_column=options.text_column, limits=options.limits)
            else:
                digest, documents = read_file(item.path, label=item.path, text_column=options.text_column,
                                              limits=options.limits)
        except QualiaError as exc:
            return SourceOutcome(key=item.key, path=item.path, sha256="", error=_failure(exc, "read"))
    outcomes: list[DocumentOutcome] = []
    relay = None if progress is None else (lambda step_id, note: progress(item.key, step_id, note))
    for document in documents:
        outcomes.append(await run_document(kernel, plan, document, pipeline=pipeline, options=options,
                                           progress=relay, request_id=item.request_id))
    return SourceOutcome(key=item.key, path=item.path, sha256=digest, documents=outcomes)


def load_item(item: WorkItem) -> WorkItem | SourceOutcome:
    """The item with its file's bytes in it, for workers that may not see the files (a cluster's);
    a file that cannot be read is its outcome at once, the same one `process_source` reports."""
    if item.document is not None or item.data is not None or item.path is None:
        return item
    try:
        data = source_bytes(item.path, label=item.path)
    except QualiaError as exc:
        return SourceOutcome(key=item.key, path=item.path, sha256="", error=_failure(exc, "read"))
    return msgspec.structs.replace(item, data=data)


async def run_document(kernel: Any, plan: list[PlannedStep], document: Document, *, pipeline: str,
                       options: WorkOptions = WorkOptions(),
                       progress: Callable[[str, p.ProgressParams], None] | None = None,
                       request_id: str | None = None) -> DocumentOutcome:
    """One Document through the plan; a failure is the outcome (see WorkOptions.raise_unavailable)."""
    started = time.perf_counter()
    try:
        steps = with_cleaning(kernel, plan, document, options.clean)  # a transcript is cleaned, as everywhere
        run = await run_plan(kernel, steps, document, name=pipeline, use_cache=options.use_cache,
                             progress=progress, request_id=request_id)
    except Unavailable as exc:
        if options.raise_unavailable:
            raise
        return DocumentOutcome(document_id=document.id, ok=False, error=_failure(exc, plan[0].id),
                               elapsed_ms=_ms(started))
    except QualiaError as exc:
        return DocumentOutcome(document_id=document.id, ok=False, error=_failure(exc, plan[0].id),
                               elapsed_ms=_ms(started))
    except Exception as exc:  # a bug, not the document's fault: only this document fails, loudly in the log
        log.exception("document %s failed unexpectedly", document.id)
        return DocumentOutcome(document_id=document.id, ok=False, error=_failure(exc, plan[0].id),
                               elapsed_ms=_ms(started))
    figures: dict[str, bytes] = {}
    formats: dict[str, str] = {}
    for step in [] if options.figures_inline else run.steps:
        if step.figure is not None and step.figure.data is not None:
            figures[step.id] = step.figure.data
            formats[step.id] = step.figure.format
            step.figure.data = None
    return DocumentOutcome(document_id=document.id, ok=True, run=msgspec.Raw(_ENCODER.encode(run)), figures=figures,
                           formats=formats, elapsed_ms=_ms(started))


def _document_digest(document: Document) -> str:
    return hashlib.sha256(msgspec.json.encode(document)).hexdigest()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
