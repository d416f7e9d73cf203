"""One dashboard `Snapshot` and the `Probe` that takes it (psutil for processes and the machine)."""
from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Iterable

import msgspec
import psutil
from aiohttp import web

from ... import __version__
from ...breaker import BreakerSnapshot, BreakerState
from ...errors import CacheError, JobStoreError
from ..cluster import CLUSTER, ExecutorView
from ..jobs_service import JOBS
from ..state import KERNEL, STATE
from ..stats import REQUEST_STATS, RequestStats, percentile

__all__ = ["JOB_STATES", "JobProgressView", "MonitorSettings", "Point", "Probe", "ProcessSampler", "Snapshot"]

ROLLING_S = 60.0  # "per minute" figures cover this much history
RECENT_JOBS = 10  # finished jobs listed after the running and queued ones
ACTIVE_JOBS = 50  # running or queued jobs listed at most
_TROUBLED = (BreakerState.OPEN, BreakerState.HALF_OPEN)


class MonitorSettings(msgspec.Struct, kw_only=True):
    interval_s: float = 1.0  # one snapshot this often
    heartbeat_s: float = 15.0  # a `: heartbeat` comment this often
    retry_ms: int = 2000  # the SSE `retry:` hint: how soon a browser reconnects
    history: int = 300  # points kept for the charts (5 minutes at 1 s)
    queue: int = 8  # snapshots buffered per slow client before the oldest are dropped


# ---- the snapshot --------------------------------------------------------------------


class ProcessView(msgspec.Struct, kw_only=True):
    pid: int
    alive: bool
    busy: bool
    calls: int
    uptime_s: float | None
    rss_bytes: int | None  # None when psutil cannot read it (gone meanwhile, no permission)
    cpu_percent: float | None  # of one core, since the previous snapshot


class PluginView(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    state: str  # not started | idle | running | open | half-open | stopped
    breaker: BreakerSnapshot | None
    restarts: int
    calls: int
    failures: int
    waiting: int
    last_error: str | None
    processes: list[ProcessView]


class Point(msgspec.Struct, kw_only=True, array_like=True):
    """One chart sample: [t, requests/min, errors/min, p50 ms, p95 ms, kernel cpu %, system cpu %]."""

    t: float  # Unix time, seconds
    requests_per_min: float
    errors_per_min: float
    p50_ms: float | None
    p95_ms: float | None
    kernel_cpu: float
    system_cpu: float


class RequestView(msgspec.Struct, kw_only=True):
    total: int
    errors_4xx: int
    errors_5xx: int
    per_min: float  # over the last minute (or what the producer has seen of it)
    errors_4xx_per_min: float
    errors_5xx_per_min: float
    p50_ms: float | None  # over the last interval
    p95_ms: float | None
    samples: int  # latencies behind the percentiles


class KernelView(msgspec.Struct, kw_only=True):
    pid: int
    cpu_percent: float
    rss_bytes: int
    threads: int


class SystemView(msgspec.Struct, kw_only=True):
    cpu_percent: float
    cpu_count: int
    memory_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    load_1m: float | None


class StepView(msgspec.Struct, kw_only=True):
    """A plugin's latest `$/progress` on one of the job's documents."""

    index: int
    document_id: str
    step: str
    done: int
    total: int | None


class JobProgressView(msgspec.Struct, kw_only=True):
    id: str
    kind: str  # pipeline | plugin
    target: str
    state: str
    done: int  # documents finished, failed ones included
    total: int
    failed: int
    attempts: int
    started: float | None  # Unix time
    finished: float | None
    step: StepView | None = None  # while it runs, when a plugin reports progress
    executor: str | None = None  # while it runs: "local", or the Dask scheduler's address


class JobsView(msgspec.Struct, kw_only=True):
    available: bool
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    problem: str | None = None
    executor: ExecutorView | None = None  # where jobs run
    jobs: list[JobProgressView] = []  # running and queued ones first, then the latest finished


class CacheView(msgspec.Struct, kw_only=True):
    enabled: bool
    hits: int = 0
    misses: int = 0
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0


class Snapshot(msgspec.Struct, kw_only=True):
    t: float
    status: str  # ok | degraded | stopping | stopped, as /health
    version: str
    uptime_s: float
    interval_s: float
    point: Point
    requests: RequestView
    kernel: KernelView
    system: SystemView
    plugins: list[PluginView]
    jobs: JobsView
    cache: CacheView


# ---- gathering -----------------------------------------------------------------------


class ProcessSampler:
    """psutil handles kept between samples, so `cpu_percent` covers the time since the previous one."""

    def __init__(self) -> None:
        self._own = psutil.Process()
        self._children: dict[int, psutil.Process] = {}
        self.prime()

    def prime(self) -> None:
        self._own.cpu_percent(None)
        psutil.cpu_percent(None)

    def kernel(self) -> KernelView:
        with self._own.oneshot():
            return KernelView(pid=self._own.pid, cpu_percent=round(self._own.cpu_percent(None), 1),
                              rss_bytes=self._own.memory_info().rss, threads=self._own.num_threads())

    def system(self) -> SystemView:
        memory = psutil.virtual_memory()
        try:
            load: float | None = round(os.getloadavg()[0], 2)
        except (AttributeError, OSError):
            load = None
        return SystemView(cpu_percent=round(psutil.cpu_percent(None), 1), cpu_count=psutil.cpu_count() or 1,
                          memory_percent=round(memory.percent, 1), memory_used_bytes=memory.total - memory.available,
                          memory_total_bytes=memory.total, load_1m=load)

    def children(self, pids: Iterable[int]) -> dict[int, tuple[int | None, float | None]]:
        """RSS and CPU % of each pid (None, None when unreadable); forgets pids not asked for."""
        wanted = set(pids)
        for gone in self._children.keys() - wanted:
            del self._children[gone]
        usage: dict[int, tuple[int | None, float | None]] = {}
        for pid in wanted:
            proc = self._children.get(pid)
            try:
                if proc is None:
                    proc = self._children[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # the first reading only starts the interval
                    usage[pid] = (proc.memory_info().rss, None)
                    continue
                with proc.oneshot():
                    usage[pid] = (proc.memory_info().rss, round(proc.cpu_percent(None), 1))
            except (psutil.Error, OSError):
                self._children.pop(pid, None)
                usage[pid] = (None, None)
        return usage


class Probe:
    """Takes snapshots of one app; `take()` is called by the hub's producer only."""

    def __init__(self, app: web.Application, settings: MonitorSettings) -> None:
        self.app = app
        self.settings = settings
        self.sampler = ProcessSampler()
        self._recent: deque[tuple[float, float, int, int, int]] = deque()  # (t, seconds, requests, 4xx, 5xx)

    def restart(self) -> None:
        """The producer (re)starts: CPU intervals and the per-minute window begin now."""
        self.sampler.prime()
        self._recent.clear()
        self.app[REQUEST_STATS].window()  # forget what happened while nobody watched

    def take(self) -> Snapshot:
        app = self.app
        kernel = app[KERNEL]
        stats: RequestStats = app[REQUEST_STATS]
        now = time.time()
        window = stats.window()
        recent = self._recent
        recent.append((now, window.seconds, window.requests, window.errors_4xx, window.errors_5xx))
        while recent and recent[0][0] <= now - ROLLING_S:
            recent.popleft()
        covered = sum(item[1] for item in recent) or 1.0
        scale = 60.0 / max(covered, 0.25)
        total, errors_4xx, errors_5xx = stats.totals()
        p50, p95 = percentile(window.latencies, 0.50), percentile(window.latencies, 0.95)
        requests = RequestView(total=total, errors_4xx=errors_4xx, errors_5xx=errors_5xx,
                               per_min=round(sum(item[2] for item in recent) * scale, 1),
                               errors_4xx_per_min=round(sum(item[3] for item in recent) * scale, 1),
                               errors_5xx_per_min=round(sum(item[4] for item in recent) * scale, 1),
                               p50_ms=_ms(p50), p95_ms=_ms(p95), samples=len(window.latencies))
        kernel_view = self.sampler.kernel()
        system_view = self.sampler.system()
        seconds = max(window.seconds, 1e-3)
        point = Point(t=round(now, 3), requests_per_min=round(window.requests * 60 / seconds, 1),
                      errors_per_min=round((window.errors_4xx + window.errors_5xx) * 60 / seconds, 1),
                      p50_ms=requests.p50_ms, p95_ms=requests.p95_ms, kernel_cpu=kernel_view.cpu_percent,
                      system_cpu=system_view.cpu_percent)
        plugins = self._plugins(kernel)
        state = app[STATE]
        if state.stopping:
            status = "stopping"
        elif not kernel.running:
            status = "stopped"
        else:
            status = "degraded" if any(p.breaker and p.breaker.state in _TROUBLED for p in plugins) else "ok"
        return Snapshot(t=point.t, status=status, version=__version__, uptime_s=state.uptime_s(),
                        interval_s=self.settings.interval_s, point=point, requests=requests, kernel=kernel_view,
                        system=system_view, plugins=plugins, jobs=self._jobs(), cache=self._cache(kernel))

    def _plugins(self, kernel: Any) -> list[PluginView]:
        statuses = kernel.status()
        pids = [proc.pid for status in statuses.values() for proc in status.processes if proc.pid is not None]
        usage = self.sampler.children(pids)
        views = []
        for plugin_id, manifest in sorted(kernel.registry.manifests.items()):
            status = statuses.get(plugin_id)
            if status is None:
                views.append(PluginView(id=plugin_id, kind=manifest.kind, state="not started", breaker=None,
                                        restarts=0, calls=0, failures=0, waiting=0, last_error=None, processes=[]))
                continue
            processes = [ProcessView(pid=proc.pid, alive=proc.alive, busy=proc.busy, calls=proc.calls,
                                     uptime_s=proc.uptime_s, rss_bytes=usage.get(proc.pid, (None, None))[0],
                                     cpu_percent=usage.get(proc.pid, (None, None))[1])
                         for proc in status.processes if proc.pid is not None]
            views.append(PluginView(id=plugin_id, kind=manifest.kind, state=status.state, breaker=status.breaker,
                                    restarts=status.restarts, calls=status.calls, failures=status.failures,
                                    waiting=status.waiting, last_error=status.last_error, processes=processes))
        return views

    def _jobs(self) -> JobsView:
        service = self.app.get(JOBS)
        executor = self._executor()
        store = service.store if service is not None else None
        if store is None:
            problem = service.problem if service is not None else "durable jobs are not set up"
            return JobsView(available=False, problem=problem, executor=executor)
        try:
            counts = store.count_by_state()
            active = store.recent(ACTIVE_JOBS, "running") + store.recent(ACTIVE_JOBS, "queued")
            seen = {job.id for job in active}
            finished = [job for job in store.recent(RECENT_JOBS + len(active)) if job.id not in seen]
        except JobStoreError as exc:
            return JobsView(available=False, problem=str(exc), executor=executor)
        runner = service.runner if service is not None else None
        jobs = [self._job(job, runner) for job in active[:ACTIVE_JOBS] + finished[:RECENT_JOBS]]
        return JobsView(available=True, executor=executor, jobs=jobs,
                        **{state: counts.get(state, 0) for state in JOB_STATES})

    @staticmethod
    def _job(job: Any, runner: Any) -> JobProgressView:
        live = runner.live_progress(job.id) if runner is not None and job.state == "running" else None
        step = None if live is None else StepView(index=live["index"], document_id=live["document_id"],
                                                  step=live["step"], done=live["done"], total=live["total"])
        return JobProgressView(id=job.id, kind=job.kind, target=job.target, state=job.state, done=job.done,
                               total=job.total, failed=job.failed, attempts=job.attempts, started=job.started,
                               finished=job.finished, step=step,
                               executor=runner.running_on(job.id) if runner is not None else None)

    def _executor(self) -> ExecutorView:
        cluster = self.app.get(CLUSTER)
        if cluster is not None:
            return cluster.view()
        kernel = self.app[KERNEL]
        return ExecutorView(kind="local", state="ready" if kernel.running else "unavailable",
                            workers=kernel.settings.plugin_concurrency or 1)

    @staticmethod
    def _cache(kernel: Any) -> CacheView:
        cache = kernel.cache
        if cache is None:
            return CacheView(enabled=False)
        try:
            stats = cache.stats()
        except CacheError:
            return CacheView(enabled=False)
        return CacheView(enabled=True, hits=stats.hits, misses=stats.misses, entries=stats.entries,
                         bytes=stats.bytes, max_bytes=stats.max_bytes)


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
