"""GET /metrics: Prometheus text exposition (format 0.0.4) from a per-app `CollectorRegistry`.

Nothing is counted twice: one custom collector reads, at scrape time, what
the front and the kernel keep anyway, so the hot path pays only for
`RequestStats.record`:

- `qualia_http_requests_total{method,route,status}` and
  `qualia_http_request_duration_seconds{method,route,status}` (a histogram;
  streamed answers such as SSE are counted but not timed), `route` being the
  canonical route (`/analyze/{id}`), never the raw path;
- per plugin (every discovered one, started or not): calls, failures,
  restarts, breaker trips, `qualia_plugin_breaker_state{state}` (1 for the
  current state, 0 for the others), processes, waiting callers, and the
  resident memory and CPU seconds of its live processes (psutil);
- the result cache (hits, misses, evictions, entries, bytes) and jobs by state;
- `process_*` for the kernel process itself (prometheus_client's ProcessCollector).

A per-app registry, not the global one: several apps (and kernels) can live
in one process (the tests do). prometheus_client is a dependency; if it is
missing all the same, /metrics answers 503 and one log line says so.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import psutil
from aiohttp import web

from .. import __version__
from ..breaker import BreakerState
from ..cache import CacheError
from ..errors import Unavailable
from ..jobs import JobStoreError
from .jobs_service import JOBS
from .openapi import API_DOC, ApiDoc
from .state import KERNEL, STATE
from .stats import BUCKETS, REQUEST_STATS

try:
    import prometheus_client
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.utils import floatToGoString
except ImportError:  # pragma: no cover - exercised by monkeypatching `prometheus_client` to None
    prometheus_client = None  # type: ignore[assignment]

__all__ = ["CONTENT_TYPE", "METRICS", "QualiaCollector", "setup_metrics"]

log = logging.getLogger("qualia.server.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BREAKER_STATES = tuple(str(state) for state in BreakerState)


class QualiaCollector:
    """Reads the app's request stats, kernel, cache and jobs when Prometheus scrapes."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._les = [floatToGoString(bound) for bound in BUCKETS] + ["+Inf"]

    def collect(self) -> Iterator[Any]:
        yield from self._service()
        yield from self._http()
        yield from self._plugins()
        yield from self._cache()
        yield from self._jobs()

    def _service(self) -> Iterator[Any]:
        info = GaugeMetricFamily("qualia_build_info", "Qualia Core version (always 1)", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily("qualia_uptime_seconds", "Seconds since the HTTP front started",
                                value=self.app[STATE].uptime_s())

    def _http(self) -> Iterator[Any]:
        labels = ["method", "route", "status"]
        requests = CounterMetricFamily("qualia_http_requests", "HTTP requests answered, by canonical route",
                                       labels=labels)
        duration = HistogramMetricFamily("qualia_http_request_duration_seconds",
                                         "Time to the answer (streamed answers are not timed)", labels=labels)
        for (method, route, status), series in sorted(self.app[REQUEST_STATS].series.items()):
            key = [method, route, str(status)]
            requests.add_metric(key, series.count)
            if series.timed:
                cumulative, running = [], 0
                for le, count in zip(self._les, series.buckets):
                    running += count
                    cumulative.append((le, running))
                duration.add_metric(key, cumulative, series.sum)
        yield requests
        yield duration

    def _plugins(self) -> Iterator[Any]:
        kernel = self.app[KERNEL]
        statuses = kernel.status()
        per_plugin = ["plugin"]
        calls = CounterMetricFamily("qualia_plugin_calls", "Calls dispatched to the plugin", labels=per_plugin)
        failures = CounterMetricFamily("qualia_plugin_failures", "Plugin faults (crash, timeout, protocol, internal)",
                                       labels=per_plugin)
        restarts = CounterMetricFamily("qualia_plugin_restarts", "Plugin processes started again after the first",
                                       labels=per_plugin)
        trips = CounterMetricFamily("qualia_plugin_breaker_trips", "Times the circuit breaker opened",
                                    labels=per_plugin)
        breaker = GaugeMetricFamily("qualia_plugin_breaker_state",
                                    "Circuit breaker state: 1 for the current state, 0 for the others",
                                    labels=["plugin", "state"])
        processes = GaugeMetricFamily("qualia_plugin_processes", "Live processes of the plugin", labels=per_plugin)
        waiting = GaugeMetricFamily("qualia_plugin_waiting", "Callers waiting for a free process", labels=per_plugin)
        rss = GaugeMetricFamily("qualia_plugin_resident_memory_bytes", "Resident memory of the plugin's processes",
                                labels=per_plugin)
        cpu = CounterMetricFamily("qualia_plugin_cpu_seconds",
                                  "CPU seconds of the plugin's live processes (drops when a process is replaced)",
                                  labels=per_plugin)
        for plugin_id in sorted(kernel.registry.manifests):
            status = statuses.get(plugin_id)
            label = [plugin_id]
            current = str(status.breaker.state) if status is not None else str(BreakerState.CLOSED)
            for state in _BREAKER_STATES:
                breaker.add_metric([plugin_id, state], 1 if state == current else 0)
            if status is None:
                for family in (calls, failures, restarts, trips, processes, waiting, rss, cpu):
                    family.add_metric(label, 0)
                continue
            calls.add_metric(label, status.calls)
            failures.add_metric(label, status.breaker.total_failures)
            restarts.add_metric(label, status.restarts)
            trips.add_metric(label, status.breaker.trips)
            waiting.add_metric(label, status.waiting)
            memory, seconds, alive = 0, 0.0, 0
            for proc in status.processes:
                if proc.pid is None:
                    continue
                try:
                    handle = psutil.Process(proc.pid)
                    with handle.oneshot():
                        memory += handle.memory_info().rss
                        times = handle.cpu_times()
                        seconds += times.user + times.system
                    alive += 1
                except (psutil.Error, OSError):
                    continue  # gone between the status and the reading
            processes.add_metric(label, alive)
            rss.add_metric(label, memory)
            cpu.add_metric(label, seconds)
        yield from (calls, failures, restarts, trips, breaker, processes, waiting, rss, cpu)

    def _cache(self) -> Iterator[Any]:
        cache = self.app[KERNEL].cache
        enabled = GaugeMetricFamily("qualia_cache_enabled", "1 when the result cache is open")
        if cache is None:
            enabled.add_metric([], 0)
            yield enabled
            return
        try:
            stats = cache.stats()
        except CacheError as exc:
            log.warning("metrics: cannot read the cache statistics: %s", exc)
            enabled.add_metric([], 0)
            yield enabled
            return
        enabled.add_metric([], 1)
        yield enabled
        yield CounterMetricFamily("qualia_cache_hits", "Result cache hits (this process)", value=stats.hits)
        yield CounterMetricFamily("qualia_cache_misses", "Result cache misses (this process)", value=stats.misses)
        yield CounterMetricFamily("qualia_cache_evictions", "Entries evicted (this process)", value=stats.evictions)
        yield GaugeMetricFamily("qualia_cache_entries", "Entries in the cache file", value=stats.entries)
        yield GaugeMetricFamily("qualia_cache_size_bytes", "Bytes of stored values", value=stats.bytes)
        yield GaugeMetricFamily("qualia_cache_max_bytes", "The cache's size limit", value=stats.max_bytes)

    def _jobs(self) -> Iterator[Any]:
        service = self.app.get(JOBS)
        store = service.store if service is not None else None
        if store is None:
            return
        try:
            counts = store.count_by_state()
        except JobStoreError as exc:
            log.warning("metrics: cannot count jobs: %s", exc)
            return
        jobs = GaugeMetricFamily("qualia_jobs", "Durable jobs in the store, by state", labels=["state"])
        for state, count in sorted(counts.items()):
            jobs.add_metric([state], count)
        yield jobs


METRICS = web.AppKey("qualia_metrics_registry", object)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app.get(METRICS)
    if registry is None:
        raise Unavailable("metrics are off: the prometheus_client package is not installed", feature="metrics")
    body = prometheus_client.generate_latest(registry)  # type: ignore[union-attr]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def setup_metrics(app: web.Application) -> None:
    """Add GET /metrics with a registry of its own; needs app[REQUEST_STATS] (create_app sets it)."""
    if prometheus_client is None:
        log.warning("metrics are off: the prometheus_client package is not installed; GET /metrics answers 503")
    else:
        registry = prometheus_client.CollectorRegistry(auto_describe=False)
        registry.register(QualiaCollector(app))  # type: ignore[arg-type]
        prometheus_client.ProcessCollector(registry=registry)  # process_* of the kernel (Linux /proc)
        app[METRICS] = registry
    app.router.add_get("/metrics", metrics)
    doc = app.get(API_DOC)
    if doc is not None:
        describe(doc)


def describe(doc: ApiDoc) -> None:
    doc.add("get", "/metrics", "metrics", tag="service", summary="Prometheus metrics",
            description="Prometheus text exposition (0.0.4): `qualia_http_requests_total` and "
                        "`qualia_http_request_duration_seconds` by method, canonical route and status; per plugin "
                        "calls, failures, restarts, breaker trips and state, processes, memory and CPU; result "
                        "cache hits, misses and size; jobs by state; `process_*` of the server. 503 when the "
                        "prometheus_client package is missing.",
            responses={200: {CONTENT_TYPE: {"schema": {"type": "string"}}}}, errors=(503,))
