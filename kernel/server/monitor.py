"""The live dashboard: GET /monitor (HTML + Canvas, no external asset) fed by GET /monitor/stream (SSE).

`Probe.take()` gathers one `Snapshot`: request rates, errors and latency
percentiles from `RequestStats`, each plugin's supervisor status with RSS
and CPU of its processes (psutil), the kernel's and the machine's CPU and
memory, jobs by state, cache counters. `MonitorHub` runs one producer task
that takes a snapshot every `interval_s`, encodes it once as an SSE chunk
and hands the same bytes to every connected client; the producer runs only
while someone listens. On app shutdown the hub closes and every stream ends
cleanly at once, so a graceful shutdown never waits for dashboards (the page
reconnects by itself: EventSource, with the `retry:` hint).

Stream: `retry: <ms>`, then `event: history` (the points so far, so charts
fill at once), then `event: snapshot` every second, `event: plugin` when a
plugin's state changes, and `: heartbeat` comments every `heartbeat_s`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable

import msgspec
import psutil
from aiohttp import web

from .. import __version__
from ..breaker import BreakerSnapshot, BreakerState
from ..cache import CacheError
from ..errors import Unavailable
from ..jobs import JobStoreError
from .jobs_service import JOBS
from .openapi import API_DOC, ApiDoc
from .state import KERNEL, STATE
from .stats import REQUEST_STATS, RequestStats, mark_streamed, percentile

__all__ = ["MONITOR", "MonitorHub", "MonitorSettings", "Probe", "Snapshot", "setup_monitor"]

log = logging.getLogger("qualia.server.monitor")

ASSETS = Path(__file__).parent / "assets"
# Only this server: scripts, styles and the stream; `data:` for the empty favicon (no /favicon.ico request).
MONITOR_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ROLLING_S = 60.0  # "per minute" figures cover this much history
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


class JobsView(msgspec.Struct, kw_only=True):
    available: bool
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    problem: str | None = None


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
        store = service.store if service is not None else None
        if store is None:
            problem = service.problem if service is not None else "durable jobs are not set up"
            return JobsView(available=False, problem=problem)
        try:
            counts = store.count_by_state()
        except JobStoreError as exc:
            return JobsView(available=False, problem=str(exc))
        return JobsView(available=True, **{state: counts.get(state, 0) for state in JOB_STATES})

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


# ---- fan-out -------------------------------------------------------------------------

_ENCODER = msgspec.json.Encoder()


def sse(event: str, data: Any) -> bytes:
    """One named SSE event with JSON data (JSON has no raw newline, so one `data:` line)."""
    return b"event: " + event.encode() + b"\ndata: " + _ENCODER.encode(data) + b"\n\n"


class Subscriber:
    """One connected client: a bounded queue of encoded chunks; None means the hub closed."""

    def __init__(self, hub: "MonitorHub", size: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, chunk: bytes | None) -> None:
        while self.queue.full():  # a slow client skips old snapshots rather than holding memory
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(chunk)

    async def next(self, timeout: float) -> bytes | None | bool:
        """The next chunk, None once the hub closed, False after `timeout` with nothing."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return False

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._hub.unsubscribe(self)


class MonitorHub:
    """One producer, many subscribers; the producer runs only while someone listens."""

    def __init__(self, take: Callable[[], Snapshot], settings: MonitorSettings,
                 on_start: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self._take = take
        self._on_start = on_start
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.history: deque[Point] = deque(maxlen=settings.history)
        self.latest: Snapshot | None = None
        self.closed = False
        self.snapshots_taken = 0

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    @property
    def producing(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self) -> Subscriber:
        if self.closed:
            raise Unavailable("the server is stopping; the dashboard stream reconnects when it is back",
                              retry_after_s=max(1, self.settings.retry_ms // 1000))
        subscriber = Subscriber(self, self.settings.queue)
        self._subscribers.add(subscriber)
        if not self.producing:
            self._task = asyncio.get_running_loop().create_task(self._produce(), name="qualia-monitor")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers and self._task is not None:
            self._task.cancel()  # nobody listens: stop sampling
            self._task = None

    def greeting(self) -> bytes:
        """What a new client gets first: the reconnect hint and the chart history."""
        return (f"retry: {self.settings.retry_ms}\n\n".encode()
                + sse("history", {"interval_s": self.settings.interval_s, "points": list(self.history)}))

    async def close(self, app: web.Application | None = None) -> None:
        """`on_shutdown`: end every stream now and stop the producer."""
        self.closed = True
        task, self._task = self._task, None
        for subscriber in list(self._subscribers):
            subscriber.offer(None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        if self._on_start is not None:
            self._on_start()
        await asyncio.sleep(min(0.25, self.settings.interval_s))  # the first rates and CPU figures need a span
        previous: dict[str, str] | None = None
        while True:
            started = loop.time()
            try:
                snapshot = self._take()
            except Exception:  # a probe bug must not kill the dashboard: log it, try again next time
                log.exception("monitor snapshot failed")
            else:
                self.snapshots_taken += 1
                self.latest = snapshot
                self.history.append(snapshot.point)
                states = {plugin.id: plugin.state for plugin in snapshot.plugins}
                chunks = []
                if previous is not None:
                    for plugin in snapshot.plugins:
                        before = previous.get(plugin.id)
                        if before is not None and before != plugin.state:
                            chunks.append(sse("plugin", {"id": plugin.id, "state": plugin.state, "previous": before,
                                                         "last_error": plugin.last_error, "t": snapshot.t}))
                previous = states
                chunks.append(sse("snapshot", snapshot))
                chunk = b"".join(chunks)
                for subscriber in list(self._subscribers):
                    subscriber.offer(chunk)
            await asyncio.sleep(max(0.0, self.settings.interval_s - (loop.time() - started)))


MONITOR = web.AppKey("qualia_monitor", MonitorHub)


# ---- routes --------------------------------------------------------------------------


async def monitor_stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[MONITOR]
    subscriber = hub.subscribe()  # 503 while stopping, before the stream starts
    with subscriber:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        mark_streamed(request, response)
        loop = asyncio.get_running_loop()
        try:
            greeting = hub.greeting()
            if hub.latest is not None:
                greeting += sse("snapshot", hub.latest)
            await response.write(greeting)
            next_beat = loop.time() + hub.settings.heartbeat_s
            while True:
                chunk = await subscriber.next(max(0.0, next_beat - loop.time()))
                if chunk is None:  # the server is stopping
                    break
                if chunk is not False:
                    await response.write(chunk)
                if loop.time() >= next_beat:
                    await response.write(b": heartbeat\n\n")
                    next_beat = loop.time() + hub.settings.heartbeat_s
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away
    return response


def _asset(name: str, content_type: str) -> Any:
    data = (ASSETS / name).read_bytes()  # read once, when the app is set up
    headers = {"Content-Type": content_type, "Content-Security-Policy": MONITOR_CSP, "Cache-Control": "no-cache",
               "X-Content-Type-Options": "nosniff"}

    async def serve_asset(request: web.Request) -> web.Response:
        return web.Response(body=data, headers=headers)

    return serve_asset


def setup_monitor(app: web.Application, settings: MonitorSettings | None = None) -> MonitorHub:
    """Add /monitor, its assets and /monitor/stream; needs app[REQUEST_STATS] (create_app sets it)."""
    settings = settings or MonitorSettings()
    probe = Probe(app, settings)
    hub = MonitorHub(probe.take, settings, on_start=probe.restart)
    app[MONITOR] = hub
    app.on_shutdown.append(hub.close)
    app.router.add_get("/monitor", _asset("monitor.html", "text/html; charset=utf-8"))
    app.router.add_get("/monitor/monitor.js", _asset("monitor.js", "text/javascript; charset=utf-8"))
    app.router.add_get("/monitor/monitor.css", _asset("monitor.css", "text/css; charset=utf-8"))
    app.router.add_get("/monitor/stream", monitor_stream)
    doc = app.get(API_DOC)
    if doc is not None:
        describe(doc)
    return hub


def describe(doc: ApiDoc) -> None:
    doc.add("get", "/monitor", "monitor", tag="service", summary="Live dashboard",
            description="A self-contained page (HTML, Canvas and JavaScript served from this package, no external "
                        "asset) showing requests per minute, latency p50/p95, errors, each plugin's breaker, "
                        "processes, restarts, RSS and CPU, kernel and system resources and jobs, live from "
                        "/monitor/stream. With API keys on, open it as `/monitor?key=...`: the page passes the key "
                        "on to the stream (EventSource cannot send headers).",
            responses={200: {"text/html; charset=utf-8": {"schema": {"type": "string"}}}})
    doc.add("get", "/monitor/stream", "monitorStream", tag="service", summary="Dashboard data (SSE)",
            description="Server-Sent Events that never end on their own: `retry:`, then `history` (recent chart "
                        "points), `snapshot` every second (JSON: requests, latency, errors, plugins, kernel, "
                        "system, jobs, cache), `plugin` when a plugin changes state, and `: heartbeat` comments. "
                        "The stream ends when the server shuts down; browsers reconnect by themselves.",
            responses={200: {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}, errors=(503,))


# One event of the stream (OpenAPI 3.1: the `schema` of an event stream describes each event).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["history", "snapshot", "plugin"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
