"""GET /monitor and /monitor/stream without a browser; RequestStats on its own.

The stream is read with aiohttp's client and parsed as Server-Sent Events:
the retry hint, the named events with JSON data, the heartbeat comments.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import AsyncIterator

import aiohttp
import pytest

from qualia.kernel.errors import Unavailable
from qualia.kernel.server.monitor import MONITOR, MonitorHub, MonitorSettings
from qualia.kernel.server.stats import BUCKETS, REQUEST_STATS, RING_SIZE, UNMATCHED, RequestStats, percentile
from tests.conftest import problem_plugin

from .conftest import error_of


class Sse:
    """One parsed SSE block: `event`, `data` (JSON-decoded), `retry`, or a `comment`."""

    def __init__(self, event: str | None = None, data: object = None, retry: int | None = None,
                 comment: str | None = None) -> None:
        self.event, self.data, self.retry, self.comment = event, data, retry, comment

    def __repr__(self) -> str:
        return f"Sse(event={self.event!r}, retry={self.retry!r}, comment={self.comment!r})"


async def sse_blocks(response: aiohttp.ClientResponse) -> AsyncIterator[Sse]:
    """Blocks of an event stream as they arrive (a comment is its own item)."""
    fields: dict[str, str] = {}
    data_lines: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith(":"):
            yield Sse(comment=line[1:].strip())
            continue
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data_lines.append(value)
            else:
                fields[name] = value
            continue
        if fields or data_lines:
            yield Sse(event=fields.get("event"), data=json.loads("\n".join(data_lines)) if data_lines else None,
                      retry=int(fields["retry"]) if "retry" in fields else None)
        fields, data_lines = {}, []


async def next_matching(blocks: AsyncIterator[Sse], predicate, timeout: float = 10.0, what: str = "event") -> Sse:
    async def scan() -> Sse:
        async for block in blocks:
            if predicate(block):
                return block
        raise AssertionError(f"the stream ended before {what}")

    return await asyncio.wait_for(scan(), timeout)


def fast_monitor(app) -> None:
    settings = app[MONITOR].settings
    settings.interval_s = 0.2
    settings.heartbeat_s = 0.3
    settings.retry_ms = 500


async def test_stream_sends_retry_history_snapshots_and_heartbeats(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=fast_monitor)
    async with served.session.get("/monitor/stream", headers={"X-Request-ID": "dash-1"}) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Request-ID"] == "dash-1"
        blocks = sse_blocks(response)
        first = await anext(blocks)
        assert first.retry == 500 and first.event is None  # the reconnect hint comes first
        history = await anext(blocks)
        assert history.event == "history" and history.data["interval_s"] == 0.2
        assert isinstance(history.data["points"], list)

        for _ in range(5):
            async with served.session.post("/analyze/echo", json={"text": "hi"}) as r:
                assert r.status == 200
        async with served.session.get("/no/such/page") as r:
            assert r.status == 404

        snapshot = await next_matching(blocks, lambda b: b.event == "snapshot" and b.data["requests"]["samples"] > 0,
                                       what="a snapshot with the requests")
        data = snapshot.data
        assert {"t", "status", "version", "uptime_s", "interval_s", "point", "requests", "kernel", "system",
                "plugins", "jobs", "cache"} <= set(data)
        requests = data["requests"]
        assert requests["total"] >= 6 and requests["errors_4xx"] >= 1 and requests["errors_5xx"] == 0
        assert requests["per_min"] > 0 and requests["p50_ms"] > 0 and requests["p95_ms"] >= requests["p50_ms"]
        t, per_min, errors_per_min, p50, p95, kernel_cpu, system_cpu = data["point"]
        assert t == data["t"] and per_min > 0 and p50 == requests["p50_ms"] and p95 == requests["p95_ms"]
        assert data["kernel"]["rss_bytes"] > 0 and data["kernel"]["pid"] > 0
        assert data["system"]["memory_total_bytes"] > 0 and data["system"]["cpu_count"] >= 1
        assert data["jobs"]["available"] is True
        assert {"queued", "running", "failed", "succeeded", "cancelled"} <= set(data["jobs"])
        assert data["cache"]["enabled"] is True and data["cache"]["misses"] == 1 and data["cache"]["hits"] == 4
        echo = next(p for p in data["plugins"] if p["id"] == "echo")
        assert echo["state"] == "idle" and echo["breaker"]["state"] == "closed" and echo["calls"] == 1  # 4 cached
        [proc] = echo["processes"]
        assert proc["pid"] > 0 and proc["rss_bytes"] > 0

        beat = await next_matching(blocks, lambda b: b.comment is not None, what="a heartbeat")
        assert beat.comment.startswith("heartbeat")


async def test_plugin_event_and_snapshot_when_the_breaker_opens(serve, plugin_dir):
    problem_plugin(plugin_dir, "crashy", "crash_on_call")
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=fast_monitor, breaker_open_s=30)
    async with served.session.get("/monitor/stream") as response:
        blocks = sse_blocks(response)
        await next_matching(blocks, lambda b: b.event == "snapshot", what="the first snapshot")
        async with served.session.post("/analyze/crashy", json={"text": "x"}) as r:
            assert r.status == 502
        await next_matching(blocks, lambda b: b.event == "snapshot"
                            and next(p for p in b.data["plugins"] if p["id"] == "crashy")["state"] != "not started",
                            what="crashy to be started")
        for _ in range(2):  # breaker_failures is 3 in the tests
            async with served.session.post("/analyze/crashy", json={"text": "x"}) as r:
                assert r.status == 502
        event = await next_matching(blocks, lambda b: b.event == "plugin" and b.data["state"] == "open",
                                    what="the plugin event")  # idle/running changes may come before
        assert event.data["id"] == "crashy" and event.data["previous"] in ("idle", "running")
        assert event.data["last_error"] and event.data["t"] > 0
        snapshot = await next_matching(blocks, lambda b: b.event == "snapshot", what="the next snapshot")
    crashy = next(p for p in snapshot.data["plugins"] if p["id"] == "crashy")
    assert crashy["breaker"]["state"] == "open" and crashy["breaker"]["trips"] == 1
    assert crashy["failures"] == 3 and crashy["restarts"] == 2 and crashy["processes"] == []
    assert "crash" in crashy["last_error"] or "exit" in crashy["last_error"]
    assert snapshot.data["status"] == "degraded"
    assert snapshot.data["requests"]["errors_5xx"] == 3
    echo = next(p for p in snapshot.data["plugins"] if p["id"] == "echo")
    assert echo["state"] == "not started" and echo["breaker"] is None


async def test_one_producer_for_all_clients_stopped_when_nobody_listens(serve):
    served = await serve(setup=fast_monitor)
    hub: MonitorHub = served.app[MONITOR]
    assert not hub.producing

    async def first_snapshot(response: aiohttp.ClientResponse) -> None:
        await next_matching(sse_blocks(response), lambda b: b.event == "snapshot", what="a snapshot")

    async with served.session.get("/monitor/stream") as one, served.session.get("/monitor/stream") as two:
        await asyncio.gather(first_snapshot(one), first_snapshot(two))
        assert hub.listeners == 2 and hub.producing
        before, started = hub.snapshots_taken, time.monotonic()
        await asyncio.sleep(1.0)
        taken = hub.snapshots_taken - before
        # One snapshot per interval for both clients together, not one per client.
        assert taken <= (time.monotonic() - started) / 0.2 + 1, taken
    deadline = time.monotonic() + 5
    while hub.producing or hub.listeners:
        assert time.monotonic() < deadline, "the producer kept running with nobody listening"
        await asyncio.sleep(0.02)
    # A new client gets the history gathered so far at once, and the producer starts again.
    async with served.session.get("/monitor/stream") as response:
        blocks = sse_blocks(response)
        await anext(blocks)
        history = await anext(blocks)
        assert history.event == "history" and len(history.data["points"]) >= 3
        assert hub.producing


async def test_shutdown_ends_the_streams_at_once(serve):
    served = await serve(setup=fast_monitor, server={"shutdown_timeout_s": 20.0})
    async with served.session.get("/monitor/stream") as response:
        blocks = sse_blocks(response)
        await next_matching(blocks, lambda b: b.event == "snapshot", what="a snapshot")
        started = time.monotonic()
        await served.runner.cleanup()
        elapsed = time.monotonic() - started
        rest = [block async for block in blocks]  # the stream ends: no hang, no error
    assert elapsed < 3.0, f"graceful shutdown waited {elapsed:.1f} s for the dashboard stream"
    assert all(block.event in ("snapshot", "plugin") or block.comment for block in rest)
    assert not served.app[MONITOR].producing


async def test_a_closed_hub_refuses_new_streams():
    hub = MonitorHub(lambda: None, MonitorSettings())  # type: ignore[arg-type,return-value]
    await hub.close()
    with pytest.raises(Unavailable, match="stopping"):
        hub.subscribe()


async def test_stream_answers_503_while_stopping(serve):
    served = await serve()
    await served.app[MONITOR].close()
    async with served.session.get("/monitor/stream") as response:
        error = await error_of(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "2" and "stopping" in error["message"]


async def test_page_and_assets_are_self_contained(serve):
    served = await serve()
    async with served.session.get("/monitor") as response:
        html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
    links = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert sorted(links) == ["data:,", "monitor/monitor.css", "monitor/monitor.js"]  # relative: this server only
    for link in ("monitor/monitor.css", "monitor/monitor.js"):
        async with served.session.get("/" + link) as response:
            text = await response.text()
        assert response.status == 200
        assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    async with served.session.get("/monitor/monitor.js") as response:
        script = await response.text()
    assert response.content_type == "text/javascript"
    assert '"monitor/stream"' in script and "EventSource" in script and 'get("key")' in script
    for event in ("history", "snapshot", "plugin"):
        assert f'addEventListener("{event}"' in script


# ---- RequestStats --------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95 and percentile(values, 1.0) == 100
    assert percentile([7.0], 0.5) == 7.0 and percentile([], 0.5) is None
    assert percentile([1.0, 2.0], 0.5) == 1.0 and percentile([1.0, 2.0], 0.95) == 2.0


def test_window_reads_only_what_is_new_and_survives_the_ring_wrapping():
    now = [100.0]
    stats = RequestStats(clock=lambda: now[0])
    for latency in (0.001, 0.002, 0.003):
        stats.record("GET", "/health", 200, latency)
    stats.record("GET", "/monitor/stream", 200, None)  # streamed: counted, not timed
    stats.record("POST", "/analyze/{id}", 502, 0.5)
    stats.record("GET", UNMATCHED, 404, 0.0001)
    now[0] = 101.0
    window = stats.window()
    assert (window.seconds, window.requests, window.errors_4xx, window.errors_5xx) == (1.0, 6, 1, 1)
    assert window.latencies == [0.0001, 0.001, 0.002, 0.003, 0.5]
    assert stats.window().requests == 0 and stats.window().latencies == []

    for i in range(RING_SIZE + 10):  # more than the ring holds: the newest RING_SIZE are kept
        stats.record("GET", "/health", 200, float(i))
    window = stats.window()
    assert len(window.latencies) == RING_SIZE and window.latencies[0] == 10.0
    assert window.latencies[-1] == float(RING_SIZE + 9) and window.requests == RING_SIZE + 10

    series = stats.series[("GET", "/health", 200)]
    assert series.count == series.timed == RING_SIZE + 13
    assert sum(series.buckets) == series.timed and len(series.buckets) == len(BUCKETS) + 1
    assert stats.series[("GET", "/monitor/stream", 200)].timed == 0
    assert stats.totals() == (RING_SIZE + 16, 1, 1)


async def test_labels_stay_bounded_whatever_the_client_sends(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    for path in ("/random/1", "/random/2", "/plugins/echo", "/plugins/nope", "/plugins/x%20y"):
        async with served.session.get(path):
            pass
    async with served.session.request("PROPFIND", "/health"):
        pass
    keys = set(served.app[REQUEST_STATS].series)
    assert {route for _, route, _ in keys} == {UNMATCHED, "/plugins/{id}"}  # never a raw path
    assert ("OTHER", UNMATCHED, 405) in keys and ("GET", "/plugins/{id}", 404) in keys
