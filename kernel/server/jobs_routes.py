"""Durable jobs over HTTP: POST /jobs, GET /jobs, GET /jobs/{job_id}, its SSE events, DELETE to cancel.

`setup_jobs(app)` adds these routes and the webhooks (`webhooks.py`), and the
hooks that start the job runner after the kernel and stop it before.

- POST /jobs: a job request (`plugin` + `config`, or an inline `pipeline`;
  `documents`, `document` or `text`; optional `callback_url`, `delivery_id`)
  is checked and planned before it is accepted (422 naming the step or
  field), then 202 `{"job_id", …}` with `Location: /jobs/{id}`.
- GET /jobs/{job_id}: state, progress, error, callback state and the result
  so far (`result.documents`, one outcome per finished document); 404 unknown.
- POST /jobs as multipart/form-data: many uploaded files (`file` parts) and
  the same fields as form fields (`jobs_uploads.py`).
- GET /jobs/{job_id}/events: Server-Sent Events. `retry:` first, then named
  events with JSON data: `state` (state, attempts), `progress` (done, total,
  failed), `step_progress` (a plugin's `$/progress` on one document: index,
  document_id, step, done, total), and `done` (the whole job, result
  included) after which the stream ends. Comments (`: heartbeat`) keep idle
  connections open.
- GET /jobs/{job_id}/export?format=csv|xlsx|parquet|qdpx: a finished job's
  documents as tidy tables or a REFI-QDA project (`jobs_export.py`).
- DELETE /jobs/{job_id}: cancel a queued or running job (200 with the job;
  the plugin gets `$/cancel`); 409 if it has already finished.
- GET /jobs?limit=50&state=…: the newest jobs first, without results.
"""
from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from ..errors import InvalidRequest
from ..jobs import ACTIVE_STATES, FINAL_STATES, JobRequest, JobSettings, JobView, job_result, job_view, plan_job
from ..jobs.spec import job_spec
from ..jobs.view import encode
from .bodies import read_json
from .jobs_export import export_job
from .jobs_service import JOBS, JobAccepted, JobService, accepted
from .jobs_uploads import read_job_form
from .logs import REQUEST_ID_HEADER, REQUEST_ID_KEY
from . import sse
from .openapi import API_DOC
from .schemas import json_response
from .sse import EventStream, event_stream_content
from .state import KERNEL
from .webhooks import WebhookSettings, setup_webhook_routes
from .webhooks import describe as describe_webhooks

__all__ = ["JobList", "setup_jobs"]

JOB_REQUEST_DECODER = msgspec.json.Decoder(JobRequest)
MAX_LIST = 500
_STATES = ACTIVE_STATES + FINAL_STATES


class JobList(msgspec.Struct, kw_only=True):
    jobs: list[JobView]


def setup_jobs(app: web.Application, kernel_key: web.AppKey[Any] = KERNEL, *, settings: JobSettings | None = None,
               webhooks: WebhookSettings | None = None) -> None:
    """Add the job and webhook routes, and the job runner's lifecycle, to `app`.

    The kernel is `app[kernel_key]`; it must be started by the app's cleanup
    context (as `create_app` does) or before the app starts.
    """
    service = JobService(kernel_key, settings or JobSettings.from_env())
    app[JOBS] = service
    app.on_startup.append(service.on_startup)
    app.on_shutdown.append(service.on_shutdown)
    app.on_cleanup.append(service.on_cleanup)
    app.router.add_post("/jobs", submit_job)
    app.router.add_get("/jobs", list_jobs)
    app.router.add_get("/jobs/{job_id}", get_job)
    app.router.add_delete("/jobs/{job_id}", cancel_job)
    app.router.add_get("/jobs/{job_id}/events", job_events)
    app.router.add_get("/jobs/{job_id}/export", export_job)
    setup_webhook_routes(app, webhooks)
    doc = app.get(API_DOC)
    if doc is not None:
        describe(doc)
        describe_webhooks(doc)


async def submit_job(request: web.Request) -> web.Response:
    service = request.app[JOBS]
    runner = service.get_runner()
    if request.content_type == "multipart/form-data":
        body = await read_job_form(request)
    else:
        body = await read_json(request, JOB_REQUEST_DECODER)
    spec = job_spec(body, max_documents=service.settings.max_documents,
                    allow_private_callbacks=service.settings.callback_allow_private)
    plan_job(runner.kernel, spec)
    return accepted(request, spec, source="api", delivery_id=body.delivery_id, callback_url=body.callback_url)


async def get_job(request: web.Request) -> web.Response:
    runner = request.app[JOBS].get_runner()
    job = runner.get(request.match_info["job_id"])
    return json_response(job_view(job, job_result(runner.store, job)))


async def cancel_job(request: web.Request) -> web.Response:
    runner = request.app[JOBS].get_runner()
    job = runner.cancel(request.match_info["job_id"])
    return json_response(job_view(job, job_result(runner.store, job)))


async def list_jobs(request: web.Request) -> web.Response:
    runner = request.app[JOBS].get_runner()
    text = request.query.get("limit", "50")
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIST}, got {text!r}", field="limit")
    state = request.query.get("state")
    if state is not None and state not in _STATES:
        raise InvalidRequest(f"state must be one of {', '.join(_STATES)}, got {state!r}", field="state")
    jobs = runner.store.recent(limit, state)
    return json_response(JobList(jobs=[job_view(job) for job in jobs]))


async def job_events(request: web.Request) -> web.StreamResponse:
    service: JobService = request.app[JOBS]
    runner = service.get_runner()
    job = runner.get(request.match_info["job_id"])  # 404 before the stream starts
    settings = service.settings
    headers = {REQUEST_ID_HEADER: request[REQUEST_ID_KEY]} if REQUEST_ID_KEY in request else None
    stream = EventStream(request, headers)
    if not await stream.open(sse.retry(settings.sse_retry_ms)):
        return stream.response
    last_write = time.monotonic()
    sent_state: tuple[str, int] | None = None
    sent_progress: tuple[int, int, int] | None = None
    sent_live: dict[str, Any] | None = None
    # Wake at least this often to re-read the store: the job may run in another process.
    wait_s = min(settings.sse_heartbeat_s, settings.poll_s)
    with runner.events.subscribe(job.id) as subscription:
        while not stream.gone:
            current = runner.store.get(job.id)
            if current is None:  # pruned meanwhile
                break
            chunks = []
            if (current.state, current.attempts) != sent_state:
                sent_state = (current.state, current.attempts)
                chunks.append(sse.event("state", {"id": current.id, "state": current.state,
                                                  "attempts": current.attempts}))
            if (current.done, current.total, current.failed) != sent_progress:
                sent_progress = (current.done, current.total, current.failed)
                chunks.append(sse.event("progress", {"id": current.id, "done": current.done, "total": current.total,
                                                     "failed": current.failed}))
            live = runner.live_progress(job.id)
            if live is not None and live != sent_live and not current.final:
                sent_live = dict(live)
                chunks.append(sse.event("step_progress", {"id": current.id, **live}))
            if current.final:
                chunks.append(sse.event("done", encode(job_view(current, job_result(runner.store, current)))))
            if chunks:
                await stream.send(b"".join(chunks))
                last_write = time.monotonic()
            if current.final or subscription.closed:
                break
            await subscription.wait(wait_s)
            if time.monotonic() - last_write >= settings.sse_heartbeat_s:
                await stream.send(sse.HEARTBEAT)
                last_write = time.monotonic()
    return await stream.close()


JOB_ERRORS = (404, 503)
JOB_EVENTS = ("state", "progress", "step_progress", "done")


def describe(doc: Any) -> None:
    doc.add("post", "/jobs", "submitJob", tag="jobs", summary="Submit a durable job",
            description="A plugin (`plugin` + `config`, dependencies resolved) or an inline `pipeline` "
                        "(`{\"steps\": [...]}`) over `documents` (strings, `{\"text\", ...}` or "
                        "`{\"document\": {...}}`), a `document` or a `text`; or multipart/form-data with many "
                        "`file` parts (each read like `qualia batch` reads a file) and these fields as form "
                        "fields. Checked and planned before it is "
                        "accepted (422 names the step or field); answers 202 at once with `Location: /jobs/{id}`. "
                        "Jobs survive a restart. With `callback_url` the finished job is POSTed there, signed "
                        "`X-Qualia-Signature: sha256=<hex>` (QUALIA_CALLBACK_SECRET), retried with backoff. A "
                        "repeated `delivery_id` answers 200 with the earlier job, flagged `duplicate`.",
            request=JobRequest, responses={202: JobAccepted, 200: JobAccepted}, errors=(400, 413, 415, 422, 503))
    doc.add("get", "/jobs/{job_id}/export", "exportJob", tag="jobs", summary="Export a finished job",
            description="Query `format`: `csv` or `parquet` (a ZIP, one file per table: segments, terms, "
                        "documents, speakers, speaker_stats_by_meeting, speaker_stats), `xlsx` (one sheet per "
                        "table) or `qdpx` (a REFI-QDA project). "
                        "409 while the job is queued or running.",
            responses={200: {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
            errors=(404, 409, 422, 503))
    doc.add("get", "/jobs", "listJobs", tag="jobs", summary="Recent jobs",
            description="Newest first, without results. Query: `limit` (1-500, default 50), `state`.",
            responses={200: JobList}, errors=(422, 503))
    doc.add("get", "/jobs/{job_id}", "getJob", tag="jobs", summary="A job: state, progress, result",
            description="`result.documents` holds one outcome per finished document (its steps, or its error).",
            responses={200: JobView}, errors=JOB_ERRORS)
    doc.add("delete", "/jobs/{job_id}", "cancelJob", tag="jobs", summary="Cancel a job",
            description="Cancels a queued or running job (the plugin gets `$/cancel`); 409 if it has finished.",
            responses={200: JobView}, errors=(404, 409, 503))
    doc.add("get", "/jobs/{job_id}/events", "jobEvents", tag="jobs", summary="A job's events (SSE)",
            description="Server-Sent Events: `retry:`, then `state`, `progress`, `step_progress` (a plugin's "
                        "`$/progress` on one document) and finally `done` (the whole job) with JSON data; "
                        "`: heartbeat` comments while idle. The stream ends after `done`.",
            responses={200: event_stream_content(JOB_EVENTS)}, errors=JOB_ERRORS)
