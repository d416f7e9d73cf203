"""`JobRunner`: runs queued jobs through the kernel, a few at a time, durably.

Start it after the kernel and stop it before; it holds no global state. On
start it re-queues the jobs a dead server left `running` (its owner process
is gone, or its lease expired) and resumes pending callback deliveries.

A job is planned again when it runs, then its documents go through the
corpus engine's unit of work and executor (the same as `qualia batch`:
several documents in flight, each plugin busy with a different one); each
outcome is stored as it ends (so a restarted job
skips finished documents) and announced to SSE subscribers through
`JobEvents`. A document that fails is recorded and the others still run;
the job then ends `failed` naming the first failure. A plugin that is only
temporarily unavailable (breaker open, busy, kernel stopping) sends the
whole job back to the queue for a later attempt, up to `max_attempts`.

Cancel marks the job cancelled in the store and cancels its task; the
kernel then sends `$/cancel` to the plugin. A graceful stop cancels running
jobs the same way but re-queues them, without counting the attempt.

Where the documents run is the runner's `executor` source: by default the
kernel's own plugin processes (`LocalExecutor`); the server passes its Dask
cluster's (`server/cluster.py`) when it runs with `--cluster`. A cluster
that is unreachable raises `ClusterUnavailable`, a 503, so the job waits in
the queue like one whose plugin is unavailable.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any, Awaitable, Callable

import msgspec
import psutil

from qualia.plugin_sdk import protocol as p

from ..corpus.executor import Executor, LocalExecutor
from ..corpus.work import DocumentOutcome, SourceOutcome, WorkItem, WorkOptions
from ..errors import Conflict, QualiaError, Unavailable, UnknownJob
from .callbacks import CallbackSender
from .events import JobEvents
from .settings import JobSettings
from .spec import JobSpec, plan_job
from .store import Job, JobStore, JobStoreError
from .view import encode, error_body

__all__ = ["JOB_WORK", "ExecutorSource", "JobRunner", "owner_is_dead"]

log = logging.getLogger("qualia.jobs")

_DAY_S = 86400.0

class _Steps(msgspec.Struct):
    steps: msgspec.Raw  # a PipelineRun's steps, copied into the outcome without being decoded


_STEPS = msgspec.json.Decoder(_Steps)

# Jobs answer from the result cache, keep figures in their JSON, and retry later when a plugin is unavailable.
JOB_WORK = WorkOptions(use_cache=True, figures_inline=True, raise_unavailable=True)

ExecutorSource = Callable[[], Awaitable[Executor]]
"""Gives the executor a job's documents run on (made with JOB_WORK); raises Unavailable when there is none now."""


def _this_process() -> tuple[str, int, float]:
    return socket.gethostname(), os.getpid(), psutil.Process().create_time()


def owner_is_dead(owner: str) -> bool:
    """True if `owner` (host/pid/start time/token) names a process of this host that no longer runs.

    Owners on other hosts are never presumed dead here: their lease decides.
    The start time guards against a recycled pid (a container restarted as pid 1).
    """
    try:
        host, pid_text, started_text, _ = owner.split("/", 3)
        pid, started = int(pid_text), float(started_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) > 1.0
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


class JobRunner:
    def __init__(self, kernel: Any, store: JobStore, settings: JobSettings | None = None, *,
                 executor: ExecutorSource | None = None) -> None:
        self.kernel = kernel
        self._executor = executor or self._local_executor
        self.store = store
        self.settings = settings or JobSettings.from_env()
        host, pid, started = _this_process()
        self.owner = f"{host}/{pid}/{started:.2f}/{uuid.uuid4().hex[:12]}"
        self.events = JobEvents()
        self.callbacks = CallbackSender(store, self.settings, self.owner, on_change=self.events.notify)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()  # cancelled on purpose (not by a stop)
        self._live: dict[str, dict[str, Any]] = {}  # job id -> the latest plugin progress
        self._where: dict[str, str] = {}  # running job id -> where its documents run ("local" or the cluster)
        self._slots = asyncio.Semaphore(self.settings.workers)
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------

    async def start(self) -> "JobRunner":
        if self.settings.retention_days > 0:
            pruned = self.store.prune(self.settings.retention_days * _DAY_S)
            if pruned:
                log.info("pruned %d finished jobs older than %g days", pruned, self.settings.retention_days)
        self._recover()
        await self.callbacks.start()
        self.callbacks.claim()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._dispatch(), name="jobs-dispatch"),
                       loop.create_task(self._maintain(), name="jobs-maintain")]
        return self

    async def stop(self) -> None:
        """Stop taking jobs; running ones go back to the queue; pending callbacks are released."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        running = list(self._tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        try:  # a task cancelled before it began never re-queued its job itself
            self.store.release_jobs(self.owner)
        except JobStoreError as exc:
            log.error("could not re-queue running jobs (the next start recovers them): %s", exc)
        await self.callbacks.stop()
        self.events.close()

    async def __aenter__(self) -> "JobRunner":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- what the front calls -------------------------------------------------------

    def submit(self, spec: JobSpec, *, source: str = "api", delivery_id: str | None = None,
               callback_url: str | None = None) -> tuple[Job, bool]:
        """Queue a job (already planned by the caller); (job, False) for a repeated delivery id."""
        job, created = self.store.submit(spec, source=source, delivery_id=delivery_id, callback_url=callback_url)
        if created:
            log.info("job %s queued: %s %r over %d document(s) from %s", job.id, spec.kind, spec.target,
                     len(spec.documents), source)
            self._wake.set()
        return job, created

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r}", job_id=job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; 404 unknown, 409 already finished."""
        job, changed = self.store.cancel(job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r}", job_id=job_id)
        if not changed:
            raise Conflict(f"job {job_id} has already {job.state}; only queued or running jobs can be cancelled",
                           job_id=job_id, state=job.state)
        task = self._tasks.get(job_id)
        if task is not None:
            self._cancelled.add(job_id)
            task.cancel()
        log.info("job %s cancelled", job_id)
        self.events.notify(job_id)
        if job.callback_url:
            self.callbacks.claim()
        return job

    @property
    def running(self) -> list[str]:
        return list(self._tasks)

    # ---- the loops ----------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            self._wake.clear()  # before claiming: a submit from now on is not missed
            try:
                job = self.store.claim(self.owner, self.settings.lease_s)
            except Exception as exc:  # the loop must outlive any failure (JobStoreError: a locked or broken file)
                log.error("could not take a job: %s", exc, exc_info=not isinstance(exc, JobStoreError))
                job = None
            if job is None:
                self._slots.release()
                await self._idle()
                continue
            task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")
            self._tasks[job.id] = task
            task.add_done_callback(lambda _, job_id=job.id: self._finished(job_id))

    def _finished(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        self._cancelled.discard(job_id)
        self._slots.release()

    async def _idle(self) -> None:
        """Wait for a submit, the next delayed job, or the poll interval (work from other processes)."""
        timeout = self.settings.poll_s
        try:
            due = self.store.next_due()
        except JobStoreError:
            due = None
        if due is not None:
            timeout = max(0.01, min(timeout, due - time.time()))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _maintain(self) -> None:
        """Renew leases, notice jobs cancelled elsewhere, adopt orphans, resume callbacks."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                lost = self.store.renew(self.owner, self.settings.lease_s, list(self._tasks))
                for job_id in lost:
                    task = self._tasks.get(job_id)
                    if task is not None:
                        log.info("job %s was cancelled or taken over elsewhere: stopping it here", job_id)
                        self._cancelled.add(job_id)
                        task.cancel()
                self._recover()
                self.callbacks.claim()
            except Exception as exc:  # keep renewing: a lapsed lease would let another runner take our jobs
                log.error("job maintenance failed: %s", exc, exc_info=not isinstance(exc, JobStoreError))

    def _recover(self) -> None:
        requeued, failed = self.store.recover(owner_is_dead, max_attempts=self.settings.max_attempts)
        if requeued:
            log.warning("re-queued %d job(s) left running by a stopped server: %s", len(requeued),
                        ", ".join(requeued))
            self._wake.set()
        for job_id in failed:
            log.error("job %s failed: interrupted too many times", job_id)
        for job_id in requeued + failed:
            self.events.notify(job_id)

    # ---- running one job ------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        log.info("job %s running (attempt %d)", job.id, job.attempts)
        self.events.notify(job.id)
        try:
            spec = self.store.spec(job.id)
            plan = plan_job(self.kernel, spec)
            done = self.store.done_indexes(job.id)
            items = (WorkItem(key=str(index), document=document, request_id=f"{job.id}/{index}")
                     for index, document in enumerate(spec.documents) if index not in done)
            try:
                executor = await self._executor()
            except Unavailable as exc:  # nothing ran: the job waits in the queue without spending an attempt
                self._wait_for_executor(job, exc)
                return
            self._where[job.id] = getattr(executor, "where", "") or "local"

            def relay(key: str, step: str, note: p.ProgressParams) -> None:
                index = int(key)
                self._live[job.id] = {"index": index, "document_id": spec.documents[index].id, "step": step,
                                      "done": note.done, "total": note.total}
                self.events.notify(job.id)

            async for source in executor.map(items, plan, pipeline=spec.target, progress=relay):
                index = int(source.key)
                ok, outcome = self._outcome(spec, index, source)
                if self.store.record_output(job.id, self.owner, index, ok, outcome) is None:
                    return  # cancelled or taken over meanwhile
                self.events.notify(job.id)
            self._complete(job)
        except asyncio.CancelledError:
            if job.id not in self._cancelled:  # a stop, not a cancel: run it again after the restart
                self._requeue(job, delay_s=0, refund=True)
            raise
        except Unavailable as exc:
            self._retry_later(job, exc)
        except JobStoreError as exc:  # the store itself failed: the job's record cannot take an outcome
            log.error("job %s: %s", job.id, exc)
        except QualiaError as exc:
            self._end(job, "failed", error_body(exc))
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job.id)
            self._end(job, "failed", {"code": "internal_error", "message": f"internal error: {exc!r}",
                                      "details": {}})
        finally:
            self._live.pop(job.id, None)
            self._where.pop(job.id, None)
            self.events.notify(job.id)

    async def _local_executor(self) -> Executor:
        return LocalExecutor(self.kernel, workers=self.kernel.settings.plugin_concurrency or 1, options=JOB_WORK)

    def live_progress(self, job_id: str) -> dict[str, Any] | None:
        """The latest `$/progress` of a plugin working on this job (document, step, done, total), or None."""
        return self._live.get(job_id)

    def running_on(self, job_id: str) -> str | None:
        """Where a running job's documents run: "local", or the address of the Dask scheduler."""
        return self._where.get(job_id)

    @staticmethod
    def _outcome(spec: JobSpec, index: int, source: SourceOutcome) -> tuple[bool, bytes]:
        """A document's outcome as the job store keeps it: its steps, or its error."""
        if not source.documents:  # failed before the pipeline ran it (a cluster's worker lost on every attempt)
            assert source.error is not None
            document = DocumentOutcome(document_id=spec.documents[index].id, ok=False, error=source.error)
        else:
            document = source.documents[0]
        head = f'{{"index":{index},"document_id":'.encode() + encode(document.document_id)
        if not document.ok:
            assert document.error is not None
            failure = document.error
            error = {"code": failure.code, "message": failure.message,
                     "details": {**failure.details, "step": failure.step}}
            return False, head + b',"error":' + encode(error) + b"}"
        assert document.run is not None
        run = bytes(document.run)
        extra = b""
        if spec.kind == "plugin":  # the last step's answer, as a one-plugin call gives it
            last = msgspec.json.decode(run)["steps"][-1]
            extra = b"".join(b',"' + key.encode() + b'":' + encode(last[key])
                             for key in ("result", "document", "figure") if key in last)
        steps = _STEPS.decode(run).steps
        return True, head + b',"steps":' + bytes(steps) + extra + b"}"

    def _complete(self, job: Job) -> None:
        current = self.store.get(job.id)
        if current is None or current.state != "running":
            return
        if current.failed == 0:
            self._end(job, "succeeded", None)
            return
        first_raw = self.store.first_failure(job.id)
        first = msgspec.json.decode(first_raw) if first_raw is not None else {"index": None, "document_id": ""}
        error = first.get("error") or {"code": "failed", "message": "a document failed", "details": {}}
        label = f"document {first['index']}" + (f" ({first['document_id']})" if first["document_id"] else "")
        self._end(job, "failed", {
            "code": error["code"],
            "message": f"{current.failed} of {current.total} document(s) failed; the first, {label}: "
                       f"{error['message']}",
            "details": {**error.get("details", {}), "failed": current.failed, "total": current.total,
                        "first_failed_index": first["index"]},
        })

    def _end(self, job: Job, state: str, error: dict[str, Any] | None) -> None:
        try:
            ended = self.store.finish(job.id, self.owner, state, error)
        except JobStoreError as exc:  # the lease lapses and the next recovery runs the job again
            log.error("job %s could not be marked %s: %s", job.id, state, exc)
            return
        if ended is None:
            return  # cancelled or taken over meanwhile
        log.info("job %s %s%s", job.id, state, f": {error['message']}" if error else "")
        if ended.callback_url:
            self.callbacks.claim()

    def _requeue(self, job: Job, *, delay_s: float, refund: bool = False,
                 error: dict[str, Any] | None = None) -> None:
        try:
            again = self.store.requeue(job.id, self.owner, delay_s=delay_s, refund=refund, error=error)
        except JobStoreError as exc:
            log.error("job %s could not be re-queued (the next start recovers it): %s", job.id, exc)
            return
        if again is not None:
            self._wake.set()

    def _wait_for_executor(self, job: Job, exc: Unavailable) -> None:
        delay = max(self.settings.retry_delay_s, float(exc.details.get("retry_after_s") or 0))
        log.info("job %s waits: %s; trying again in %g s", job.id, exc.message, delay)
        self._requeue(job, delay_s=delay, refund=True, error=error_body(exc))

    def _retry_later(self, job: Job, exc: Unavailable) -> None:
        if self._stopping:
            self._requeue(job, delay_s=0, refund=True)
        elif job.attempts >= self.settings.max_attempts:
            self._end(job, "failed", {**error_body(exc), "message": f"{exc.message} (gave up after {job.attempts} "
                                                                    f"attempts)"})
        else:
            delay = max(self.settings.retry_delay_s, float(exc.details.get("retry_after_s") or 0))
            log.info("job %s: %s; retrying in %g s", job.id, exc.message, delay)
            self._requeue(job, delay_s=delay, error=error_body(exc))
