"""The JSON a client sees of a job: GET /jobs/{id}, SSE `done`, and the callback body.

Typed Structs, so `/openapi.json` documents exactly what is sent. The result
is assembled from the per-document outputs as raw JSON (`msgspec.Raw`), so a
large result is never decoded just to be re-encoded.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec

from ..errors import QualiaError
from .store import Job, JobStore

__all__ = ["CallbackView", "JobLinks", "JobView", "Progress", "encode", "error_body", "iso_time", "job_result",
           "job_view"]

_ENCODER = msgspec.json.Encoder(enc_hook=str)  # details may hold paths and the like


class Progress(msgspec.Struct, kw_only=True):
    done: int  # documents finished, failed ones included
    total: int
    failed: int


class CallbackView(msgspec.Struct, kw_only=True):
    url: str
    state: str  # waiting (the job has not ended) | pending | delivered | failed
    attempts: int
    error: str | None  # the last failed attempt's reason


class JobLinks(msgspec.Struct, kw_only=True):
    self_: str = msgspec.field(name="self")
    events: str


class JobView(msgspec.Struct, kw_only=True):
    id: str
    kind: str  # pipeline | plugin
    target: str  # the plugin id or the pipeline's name
    source: str  # api | custom | github | slack
    delivery_id: str | None
    state: str  # queued | running | succeeded | failed | cancelled
    progress: Progress
    attempts: int
    error: dict[str, Any] | None  # {code, message, details}
    created: str
    updated: str
    started: str | None
    finished: str | None
    links: JobLinks
    callback: CallbackView | None | msgspec.UnsetType = msgspec.UNSET
    # {"documents": [{index, document_id, steps, result?} | {index, document_id, error}]}, as documents end
    result: Any = msgspec.UNSET


def encode(value: Any) -> bytes:
    return _ENCODER.encode(value)


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(exc: QualiaError) -> dict[str, Any]:
    """The project's error object ({code, message, details}), JSON-safe."""
    return {"code": exc.code, "message": exc.message,
            "details": msgspec.json.decode(_ENCODER.encode(exc.details))}


def job_result(store: JobStore, job: Job) -> msgspec.Raw | None:
    """{"documents": [outcome, …]} of the documents finished so far, or None before the first."""
    outputs = store.outputs(job.id)
    if not outputs:
        return None
    return msgspec.Raw(b'{"documents":[' + b",".join(outputs) + b"]}")


def job_view(job: Job, result: msgspec.Raw | None | msgspec.UnsetType = msgspec.UNSET, *,
             with_callback: bool = True) -> JobView:
    """The job as clients see it; `result` is left out unless given (lists leave it out)."""
    callback: CallbackView | None | msgspec.UnsetType = msgspec.UNSET
    if with_callback:
        callback = None if job.callback_url is None else CallbackView(
            url=job.callback_url, state=job.callback_state or "waiting", attempts=job.callback_attempts,
            error=job.callback_error)
    return JobView(
        id=job.id, kind=job.kind, target=job.target, source=job.source, delivery_id=job.delivery_id,
        state=job.state, progress=Progress(done=job.done, total=job.total, failed=job.failed),
        attempts=job.attempts, error=job.error, created=iso_time(job.created) or "",
        updated=iso_time(job.updated) or "", started=iso_time(job.started), finished=iso_time(job.finished),
        links=JobLinks(self_=f"/jobs/{job.id}", events=f"/jobs/{job.id}/events"), callback=callback, result=result)
