"""`RequestStats`: what every HTTP request did, kept cheaply for /monitor and /metrics.

One middleware (outermost, so it sees the final status of every answer,
errors included) calls `RequestStats.record` once per request with the
method, the route's canonical path (`/analyze/{id}`, never the raw path, so
the number of series stays bounded), the status and the latency. The hot path
only bumps a few numbers: the series counters (count, sum, one histogram
bucket) and a slot of a fixed-size latency ring. Everything derived
(percentiles, rates, totals, error counts) is computed by the readers: once
per second by the dashboard's producer (`window()`), or at scrape time by
the Prometheus collector (`series`).

Streamed answers (SSE) are counted but their duration is not a latency: it
is how long a client stayed connected, so it stays out of the ring and the
histogram. A request whose client went away (its handler cancelled) counts
as 499, nginx's "client closed request", unless its stream had begun
(`mark_streamed`): a dashboard tab being closed is not an error.
"""
from __future__ import annotations

import asyncio
import math
import time
from array import array
from bisect import bisect_left
from typing import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["BUCKETS", "REQUEST_STATS", "RequestStats", "Series", "Window", "mark_streamed", "percentile",
           "route_label"]

# Histogram bounds in seconds (Prometheus `le`), from a cached answer to a slow figure.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RING_SIZE = 1 << 14  # latency samples kept between two reads: plenty for a 1 s window at >10k req/s
UNMATCHED = "(unmatched)"  # no route: 404 from the router, 405 with Allow
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_GONE = 499  # the client disconnected (nginx's convention): the handler was cancelled


class Series:
    """Counters of one (method, route, status): requests, and the timed ones' sum and buckets."""

    __slots__ = ("count", "timed", "sum", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.timed = 0
        self.sum = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf


class Window:
    """What happened since the previous `window()` call."""

    __slots__ = ("seconds", "requests", "errors_4xx", "errors_5xx", "latencies")

    def __init__(self, seconds: float, requests: int, errors_4xx: int, errors_5xx: int,
                 latencies: list[float]) -> None:
        self.seconds = seconds
        self.requests = requests
        self.errors_4xx = errors_4xx
        self.errors_5xx = errors_5xx
        self.latencies = latencies  # sorted; at most RING_SIZE of the newest


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted values; None without values."""
    if not ordered:
        return None
    rank = math.ceil(fraction * len(ordered) - 1e-9)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def route_label(request: web.BaseRequest) -> str:
    """The canonical path of the matched resource (`/jobs/{job_id}`), else UNMATCHED."""
    match_info = request.match_info  # type: ignore[attr-defined]
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else UNMATCHED


class RequestStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.series: dict[tuple[str, str, int], Series] = {}
        self._ring = array("d", bytes(8 * RING_SIZE))
        self._written = 0  # latency samples ever written to the ring
        self._clock = clock
        self.started_at = clock()
        # What the previous window() saw.
        self._seen_samples = 0
        self._seen_totals = (0, 0, 0)
        self._seen_at = self.started_at

    def record(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One finished request; `seconds` None for a streamed answer (not a latency)."""
        key = (method, route, status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series()
        series.count += 1
        if seconds is not None:
            series.timed += 1
            series.sum += seconds
            series.buckets[bisect_left(BUCKETS, seconds)] += 1
            self._ring[self._written & (RING_SIZE - 1)] = seconds
            self._written += 1

    def totals(self) -> tuple[int, int, int]:
        """Requests, 4xx answers and 5xx answers since the start."""
        requests = errors_4xx = errors_5xx = 0
        for (_, _, status), series in self.series.items():
            requests += series.count
            if status >= 500:
                errors_5xx += series.count
            elif status >= 400:
                errors_4xx += series.count
        return requests, errors_4xx, errors_5xx

    def window(self) -> Window:
        """Counts and sorted latencies since the previous call (one reader: the dashboard's producer)."""
        now = self._clock()
        totals = self.totals()
        fresh = min(self._written - self._seen_samples, RING_SIZE)
        end = self._written & (RING_SIZE - 1)
        start = (self._written - fresh) & (RING_SIZE - 1)
        if fresh == 0:
            latencies: list[float] = []
        elif start < end:
            latencies = self._ring[start:end].tolist()
        else:  # wrapped (or exactly full)
            latencies = self._ring[start:].tolist() + self._ring[:end].tolist()
        latencies.sort()
        previous = self._seen_totals
        result = Window(now - self._seen_at, totals[0] - previous[0], totals[1] - previous[1],
                        totals[2] - previous[2], latencies)
        self._seen_samples, self._seen_totals, self._seen_at = self._written, totals, now
        return result

    def middleware(self) -> Middleware:
        """The aiohttp middleware feeding this object; put it first (outermost)."""
        record = self.record
        clock = time.perf_counter

        @web.middleware
        async def request_stats_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = clock()
            status = 500
            timed = True
            try:
                response = await handler(request)
                status = response.status
                timed = isinstance(response, web.Response)  # not a stream
                return response
            except web.HTTPException as exc:  # only if nothing inside turned it into an answer
                status = exc.status
                raise
            except asyncio.CancelledError:  # the client left: 499, unless its stream had begun
                streamed = request.get(STREAMED)
                if streamed is None:
                    status = CLIENT_GONE
                else:
                    status, timed = streamed, False
                raise
            finally:
                method = request.method
                record(method if method in _METHODS else "OTHER", route_label(request), status,
                       clock() - started if timed else None)

        return request_stats_middleware


def mark_streamed(request: web.Request, response: web.StreamResponse) -> None:
    """Call after `prepare()` in a streaming handler: when the client later leaves (the handler is
    cancelled), the request is counted with the status it was answered, not as 499."""
    request[STREAMED] = response.status


REQUEST_STATS = web.AppKey("qualia_request_stats", RequestStats)
STREAMED = web.RequestKey("qualia_streamed_status", int)
