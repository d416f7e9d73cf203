"""The job service inside the app: the store and runner's lifecycle, and the 202 answer.

`JobService` sits in `app[JOBS]` from setup on (the app cannot take new keys
once started); the runner starts `on_startup`, after the kernel (which starts
in the app's cleanup context), and stops `on_shutdown`, before in-flight
requests are awaited and the kernel stops, so running jobs go back to the
queue with their plugin calls cancelled. The store closes last, `on_cleanup`.
If the store cannot be opened the rest of the front still serves, and the
job and webhook routes answer 503 naming the file.
"""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from ..errors import Unavailable
from ..jobs import STORE_FILE, Job, JobRunner, JobSettings, JobSpec, JobStore, JobStoreError
from ..jobs.view import JobLinks
from .cluster import CLUSTER
from .schemas import json_response

__all__ = ["JOBS", "JobAccepted", "JobService", "accepted"]

log = logging.getLogger("qualia.server.jobs")


class JobAccepted(msgspec.Struct, kw_only=True):
    """A job taken (202), or the earlier job of a repeated delivery (200, `duplicate`)."""

    job_id: str
    state: str
    duplicate: bool
    links: JobLinks


class JobService:
    def __init__(self, kernel_key: web.AppKey[Any], settings: JobSettings) -> None:
        self.kernel_key = kernel_key
        self.settings = settings
        self.store: JobStore | None = None
        self.runner: JobRunner | None = None
        self.problem: str | None = None

    def get_runner(self) -> JobRunner:
        if self.runner is None:
            raise Unavailable(f"durable jobs are unavailable: {self.problem or 'the job service is not running'}",
                              reason=self.problem)
        return self.runner

    async def on_startup(self, app: web.Application) -> None:
        kernel = app[self.kernel_key]
        path = kernel.settings.home / STORE_FILE
        try:
            self.store = JobStore(path)
        except JobStoreError as exc:
            self.problem = str(exc)
            log.error("durable jobs and webhooks are off: %s", exc)
            return
        cluster = app.get(CLUSTER)
        runner = JobRunner(kernel, self.store, self.settings, executor=cluster.job_executor if cluster else None)
        try:
            await runner.start()
        except JobStoreError as exc:  # recovering or pruning failed: the file is unusable
            self.problem = str(exc)
            log.error("durable jobs and webhooks are off: %s", exc)
            await runner.stop()
            return
        self.runner = runner
        log.info("job runner started: %d worker(s), store %s, documents run %s", self.settings.workers, path,
                 f"on the Dask cluster {cluster.cluster}" if cluster else "here")

    async def on_shutdown(self, app: web.Application) -> None:
        if self.runner is not None:
            await self.runner.stop()  # running jobs are re-queued; SSE streams end

    async def on_cleanup(self, app: web.Application) -> None:
        self.runner = None
        self.problem = self.problem or "the server is stopping"
        if self.store is not None:
            self.store.close()
            self.store = None


JOBS = web.AppKey("qualia_jobs", JobService)


def accepted(request: web.Request, spec: JobSpec, *, source: str, delivery_id: str | None,
             callback_url: str | None) -> web.Response:
    """Queue the job: 202 with its id (200 flagged `duplicate` for a delivery seen before), Location: /jobs/{id}.
    503 naming the cluster when jobs run on a Dask cluster that cannot be reached now."""
    runner = request.app[JOBS].get_runner()
    cluster = request.app.get(CLUSTER)
    if cluster is not None:
        cluster.check()
    job, created = runner.submit(spec, source=source, delivery_id=delivery_id, callback_url=callback_url)
    return accepted_response(job, duplicate=not created)


def accepted_response(job: Job, *, duplicate: bool) -> web.Response:
    links = JobLinks(self_=f"/jobs/{job.id}", events=f"/jobs/{job.id}/events")
    response = json_response(JobAccepted(job_id=job.id, state=job.state, duplicate=duplicate, links=links),
                             status=200 if duplicate else 202)
    response.headers["Location"] = links.self_
    return response
