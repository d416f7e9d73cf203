"""The service's jobs on a Dask cluster: `qualia serve --cluster local:N | tcp://HOST:PORT`.

`ClusterService` holds the one cluster the server's jobs run on (the
`cluster` setting: `--cluster`, QUALIA_DASK_SCHEDULER or `[batch] cluster`).
It is opened once, in the background, when the app starts (a LocalCluster
for `local:N`, a client for an address), so the server listens at once and
its other routes never wait for Dask; it is closed when the app stops, with
the Qualia kernels on the workers. An unreachable scheduler (or one without
workers) leaves the service `unavailable`: POST /jobs and the webhooks
answer 503 naming the address, queued jobs wait, and the connection is
tried again every `retry_s` (a scheduler started after the server is
picked up). A client whose scheduler goes away is noticed and reopened.

The job runner asks `executor()` for each job: it waits while the cluster
is being opened and raises `ClusterUnavailable` (503, the job goes back to
the queue) when it cannot be reached. The executor is `dask_executor`'s,
used as it is (`open_cluster`, `DaskExecutor.map`), with the jobs' options.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from typing import Any

import msgspec
from aiohttp import web

from ..corpus.executor import DASK_INSTALL, Executor
from ..corpus.work import SourceOutcome, StepProgress, WorkItem
from ..errors import ClusterUnavailable, InvalidSetting, QualiaError
from ..jobs import JOB_WORK
from ..pipeline import PlannedStep
from ..settings import Settings

__all__ = ["CLUSTER", "ClusterService", "ExecutorView", "setup_cluster"]

log = logging.getLogger("qualia.server.cluster")

RETRY_S = 30.0            # an unreachable cluster is tried again this often
WATCH_S = 2.0             # how often an open client is checked for a lost scheduler
CLOSE_GRACE_S = 30.0      # a LocalCluster still starting when the server stops gets this long to finish


class ExecutorView(msgspec.Struct, kw_only=True):
    """Where the service's jobs run, as /monitor shows it."""

    kind: str  # local | dask
    state: str  # ready | connecting | unavailable
    address: str | None = None  # the Dask scheduler
    dashboard: str | None = None  # Dask's dashboard, when the scheduler has one (bokeh installed there)
    workers: int = 0  # dask: workers, each with one Qualia kernel; local: processes per plugin
    slots: int = 0  # dask: documents the cluster runs at once
    problem: str | None = None  # why it is unavailable


class ClusterService:
    def __init__(self, cluster: str, *, origin: str = "", retry_s: float = RETRY_S,
                 wait_for_workers_s: float = 60.0) -> None:
        self.cluster = cluster
        self.origin = origin
        self.retry_s = retry_s
        self.wait_for_workers_s = wait_for_workers_s
        self.state = "connecting"
        self.problem: str | None = None
        self.executor: Any = None  # a DaskExecutor while ready
        self.attempts = 0
        self._scheduler_id: str | None = None  # the scheduler the open client registered the kernels with
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle (the app's cleanup context) -------------------------------------------

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        from .state import KERNEL

        self._task = asyncio.get_running_loop().create_task(self._hold(app[KERNEL].settings), name="qualia-cluster")
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the cluster (a LocalCluster stops, the workers' kernels stop); an opening one may finish first."""
        self._closing.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_GRACE_S)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.state, self.executor = "unavailable", None
        self.problem = self.problem or "the server is stopping"
        self._changed.set()

    async def _hold(self, settings: Settings) -> None:
        """Open the cluster, keep it while the server runs, reopen it when it is lost."""
        while not self._closing.is_set():
            self.attempts += 1
            async with AsyncExitStack() as stack:
                try:
                    executor = await self._open(stack, settings)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._set("unavailable", problem=self._reason(exc))
                    log.error("jobs cannot run on the Dask cluster %s: %s; trying again in %g s", self.cluster,
                              self.problem, self.retry_s)
                else:
                    self.executor = executor
                    self._scheduler_id = _scheduler_id(executor)
                    self._set("ready")
                    log.info("jobs run on the Dask cluster %s: %d worker(s), %d documents at a time%s", executor.where,
                             executor.worker_processes, executor.workers,
                             f"; dashboard {executor.dashboard_link}" if executor.dashboard_link else "")
                    await self._watch(executor)
                    self.executor = None
                    if self._closing.is_set():
                        return
                    self._set("unavailable", problem=f"lost the connection to the Dask scheduler {executor.where}")
                    log.error("%s; reconnecting", self.problem)
                    continue  # reconnect at once (the stack closes the old client first)
            try:  # still `unavailable` while trying again: jobs are refused until it is back
                await asyncio.wait_for(self._closing.wait(), self.retry_s)
            except asyncio.TimeoutError:
                pass

    async def _open(self, stack: AsyncExitStack, settings: Settings) -> Any:
        """Dask's own connect timeout applies (distributed.comm.timeouts.connect, 30 s by default; the
        variable DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT sets it)."""
        from ..corpus.dask_executor import open_cluster  # Dask is an optional extra: imported only here

        return await stack.enter_async_context(open_cluster(
            self.cluster, settings, options=JOB_WORK, wait_for_workers_s=self.wait_for_workers_s))

    async def _watch(self, executor: Any) -> None:
        """Until the server stops or the client loses its scheduler. A client that is only reconnecting counts
        as lost: a scheduler that comes back is a new one, without the Qualia kernels registered on the old
        one's workers, so the cluster is opened again from scratch (and jobs wait meanwhile)."""
        while not self._closing.is_set():
            try:
                await asyncio.wait_for(self._closing.wait(), WATCH_S)
            except asyncio.TimeoutError:
                pass
            if not self._connected(executor):
                return
            try:  # workers come and go: /monitor shows the current count
                await asyncio.wait_for(executor.refresh(), WATCH_S)
            except Exception as exc:
                log.info("could not count the cluster's workers: %r", exc)

    def _connected(self, executor: Any) -> bool:
        """The client is running, on the scheduler it was opened on: Dask's client reconnects by itself to a
        scheduler restarted on the same address within its connect timeout, but that one has no Qualia kernels."""
        if str(getattr(executor.client, "status", "running")) != "running":
            return False
        return _scheduler_id(executor) == self._scheduler_id

    def _set(self, state: str, *, problem: str | None = None) -> None:
        self.state, self.problem = state, problem
        self._changed.set()
        self._changed = asyncio.Event()

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, QualiaError):
            return exc.message
        return f"the Dask cluster {self.cluster} could not be opened: {type(exc).__name__}: {exc}"

    # ---- what the jobs and the front use ---------------------------------------------------

    def unavailable(self) -> ClusterUnavailable:
        where = f" ({self.origin})" if self.origin else ""
        return ClusterUnavailable(f"jobs run on the Dask cluster {self.cluster}{where}, which is unavailable: "
                                  f"{self.problem or 'not connected'}; retrying every {self.retry_s:g} s",
                                  address=self.cluster, retry_after_s=self.retry_s)

    def check(self) -> None:
        """503 naming the cluster when jobs could not run now (POST /jobs, webhooks); accept while opening."""
        if self.state == "unavailable":
            raise self.unavailable()

    async def job_executor(self) -> Executor:
        """The executor for one job: waits while the cluster is being opened."""
        while self.state == "connecting":
            await self._changed.wait()
        if self.state != "ready" or self.executor is None or not self._connected(self.executor):
            raise self.unavailable()
        return ClusterJobs(self.executor)

    def view(self) -> ExecutorView:
        executor = self.executor if self.state == "ready" else None
        return ExecutorView(kind="dask", state=self.state, address=executor.where if executor else self.cluster,
                            dashboard=executor.dashboard_link if executor else None,
                            workers=executor.worker_processes if executor else 0,
                            slots=executor.workers if executor else 0, problem=self.problem)


class ClusterJobs:
    """The cluster's executor as a job uses it: a connection lost mid-job sends the job back to the queue
    (ClusterUnavailable) instead of failing it."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.where: str = executor.where
        self.workers: int = executor.workers

    async def map(self, items: Iterable[WorkItem], plan: list[PlannedStep], *, pipeline: str,
                  progress: StepProgress | None = None) -> AsyncIterator[SourceOutcome]:
        try:
            async for outcome in self.executor.map(items, plan, pipeline=pipeline, progress=progress):
                yield outcome
        except (OSError, asyncio.TimeoutError) as exc:  # distributed's CommClosedError is an OSError
            raise ClusterUnavailable(f"lost the Dask scheduler {self.where} during the job: {exc}",
                                     address=self.where) from None


def _scheduler_id(executor: Any) -> str | None:
    return (executor.client.scheduler_info() or {}).get("id")  # an asynchronous client's cached identity


CLUSTER = web.AppKey("qualia_cluster", ClusterService)


def setup_cluster(app: web.Application, cluster: str, *, origin: str = "", **options: Any) -> ClusterService:
    """Run the app's jobs on `cluster`; opened with the app (after its kernel), closed before it.
    Without Dask installed the server does not start (InvalidSetting: `qualia serve` exits 2 saying what to
    install)."""
    if importlib.util.find_spec("distributed") is None:
        where = f" ({origin})" if origin else ""
        raise InvalidSetting(f"jobs on the Dask cluster {cluster}{where} need Dask distributed: {DASK_INSTALL}",
                             setting="cluster")
    service = ClusterService(cluster, origin=origin, **options)
    app[CLUSTER] = service
    app.cleanup_ctx.append(service.lifecycle)
    return service
