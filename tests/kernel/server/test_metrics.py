"""GET /metrics: scraped after real traffic and parsed with prometheus_client's own parser."""
from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from qualia.kernel import __version__
from qualia.kernel.server import metrics as metrics_module
from tests.conftest import problem_plugin

from .conftest import error_of


async def scrape(served) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}}."""
    async with served.session.get("/metrics") as response:
        text = await response.text()
    assert response.status == 200, text
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


async def test_request_counters_and_histograms_by_canonical_route(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    await scrape(served)  # counted by the next scrape
    for _ in range(3):
        async with served.session.get("/health") as r:
            assert r.status == 200
    for text in ("a", "b", "a"):
        async with served.session.post("/analyze/echo", json={"text": text}) as r:
            assert r.status == 200
    for path in ("/plugins/echo", "/plugins/nope", "/made/up/path"):
        async with served.session.get(path) as r:
            await r.read()
    samples = await scrape(served)

    assert value(samples, "qualia_http_requests_total", method="GET", route="/health", status="200") == 3
    assert value(samples, "qualia_http_requests_total", method="POST", route="/analyze/{id}", status="200") == 3
    assert value(samples, "qualia_http_requests_total", method="GET", route="/plugins/{id}", status="200") == 1
    assert value(samples, "qualia_http_requests_total", method="GET", route="/plugins/{id}", status="404") == 1
    assert value(samples, "qualia_http_requests_total", method="GET", route="(unmatched)", status="404") == 1
    assert value(samples, "qualia_http_requests_total", method="GET", route="/metrics", status="200") == 1
    routes = {dict(labels)["route"] for labels in samples["qualia_http_requests_total"]}
    assert not {"/plugins/echo", "/plugins/nope", "/made/up/path"} & routes  # never the raw path

    labels = {"method": "POST", "route": "/analyze/{id}", "status": "200"}
    assert value(samples, "qualia_http_request_duration_seconds_count", **labels) == 3
    assert value(samples, "qualia_http_request_duration_seconds_sum", **labels) > 0
    assert value(samples, "qualia_http_request_duration_seconds_bucket", **labels, le="+Inf") == 3
    buckets = sorted((float(dict(k)["le"]), v)
                     for k, v in samples["qualia_http_request_duration_seconds_bucket"].items()
                     if {n: dict(k)[n] for n in labels} == labels)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative

    assert value(samples, "qualia_cache_misses_total") == 2 and value(samples, "qualia_cache_hits_total") == 1
    assert value(samples, "qualia_cache_entries") == 2 and value(samples, "qualia_cache_size_bytes") > 0
    assert value(samples, "qualia_cache_enabled") == 1
    assert value(samples, "qualia_plugin_calls_total", plugin="echo") == 2
    assert value(samples, "qualia_plugin_processes", plugin="echo") == 1
    assert value(samples, "qualia_plugin_resident_memory_bytes", plugin="echo") > 1_000_000
    assert value(samples, "qualia_plugin_cpu_seconds_total", plugin="echo") >= 0
    assert value(samples, "process_resident_memory_bytes") > 0  # the kernel process itself
    assert value(samples, "qualia_build_info", version=__version__) == 1


async def test_breaker_state_failures_and_restarts_of_a_crashing_plugin(serve, plugin_dir):
    problem_plugin(plugin_dir, "crashy", "crash_on_call")
    problem_plugin(plugin_dir, "idle", "ok")
    served = await serve(breaker_open_s=30)
    samples = await scrape(served)
    assert value(samples, "qualia_plugin_breaker_state", plugin="crashy", state="closed") == 1  # not started yet
    assert value(samples, "qualia_plugin_calls_total", plugin="crashy") == 0
    for _ in range(3):  # breaker_failures is 3 in the tests
        async with served.session.post("/analyze/crashy", json={"text": "x"}) as r:
            assert r.status == 502
    async with served.session.post("/analyze/crashy", json={"text": "x"}) as r:
        await error_of(r, 503, "breaker_open")
    samples = await scrape(served)
    assert value(samples, "qualia_plugin_breaker_state", plugin="crashy", state="open") == 1
    assert value(samples, "qualia_plugin_breaker_state", plugin="crashy", state="closed") == 0
    assert value(samples, "qualia_plugin_breaker_state", plugin="crashy", state="half-open") == 0
    assert value(samples, "qualia_plugin_breaker_state", plugin="idle", state="closed") == 1
    assert value(samples, "qualia_plugin_failures_total", plugin="crashy") == 3
    assert value(samples, "qualia_plugin_restarts_total", plugin="crashy") == 2
    assert value(samples, "qualia_plugin_breaker_trips_total", plugin="crashy") == 1
    assert value(samples, "qualia_plugin_calls_total", plugin="crashy") == 3  # the 4th failed fast
    assert value(samples, "qualia_plugin_processes", plugin="crashy") == 0
    assert value(samples, "qualia_http_requests_total", method="POST", route="/analyze/{id}", status="502") == 3
    assert value(samples, "qualia_http_requests_total", method="POST", route="/analyze/{id}", status="503") == 1
    # Scraping again does not count anything twice.
    again = await scrape(served)
    assert value(again, "qualia_plugin_failures_total", plugin="crashy") == 3
    assert value(again, "qualia_http_requests_total", method="POST", route="/analyze/{id}", status="502") == 3


async def test_jobs_by_state(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    samples = await scrape(served)
    assert {dict(k)["state"]: v for k, v in samples["qualia_jobs"].items()} == {
        "queued": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    async with served.session.post("/jobs", json={"plugin": "echo", "text": "hello"}) as r:
        assert r.status == 202
        job_id = (await r.json())["job_id"]
    deadline = time.monotonic() + 10
    while True:
        async with served.session.get(f"/jobs/{job_id}") as r:
            if (await r.json())["state"] == "succeeded":
                break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    samples = await scrape(served)
    assert value(samples, "qualia_jobs", state="succeeded") == 1 and value(samples, "qualia_jobs", state="queued") == 0


async def test_each_app_has_its_own_registry(serve):
    one, two = await serve(), await serve()
    for _ in range(4):
        async with one.session.get("/health"):
            pass
    async with two.session.get("/health"):
        pass
    assert value(await scrape(one), "qualia_http_requests_total", method="GET", route="/health", status="200") == 4
    assert value(await scrape(two), "qualia_http_requests_total", method="GET", route="/health", status="200") == 1


async def test_without_prometheus_client_metrics_answer_503_and_one_log_line(serve, monkeypatch, caplog):
    monkeypatch.setattr(metrics_module, "prometheus_client", None)
    with caplog.at_level(logging.WARNING, logger="qualia.server.metrics"):
        served = await serve()
    lines = [r for r in caplog.records if r.name == "qualia.server.metrics"]
    assert len(lines) == 1 and "prometheus_client" in lines[0].getMessage() and "off" in lines[0].getMessage()
    async with served.session.get("/metrics") as r:
        error = await error_of(r, 503, "unavailable")
    assert "prometheus_client" in error["message"]
    async with served.session.get("/health") as r:  # the rest of the front is unaffected
        assert r.status == 200


@pytest.mark.parametrize("path", ["/metrics"])
async def test_metrics_is_documented(serve, path):
    served = await serve()
    async with served.session.get("/openapi.json") as r:
        doc = await r.json()
    operation = doc["paths"][path]["get"]
    assert "text/plain; version=0.0.4; charset=utf-8" in operation["responses"]["200"]["content"]
    assert "503" in operation["responses"]


async def test_a_client_that_leaves_is_499_but_a_closed_dashboard_is_not(serve, plugin_dir):
    problem_plugin(plugin_dir, "slow", "slow", timeout_s=10)
    served = await serve()
    async with served.session.get("/monitor/stream") as r:
        assert r.status == 200
        await r.content.readuntil(b"event: snapshot")  # the stream has begun; then the client goes away
    with pytest.raises(asyncio.TimeoutError):
        async with served.session.post("/analyze/slow", json={"text": "x"}, timeout=aiohttp.ClientTimeout(total=0.5)):
            pass
    deadline = time.monotonic() + 10
    while True:
        counts = (await scrape(served))["qualia_http_requests_total"]
        if (("method", "POST"), ("route", "/analyze/{id}"), ("status", "499")) in counts:
            break
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.1)
    assert counts[(("method", "GET"), ("route", "/monitor/stream"), ("status", "200"))] == 1
    assert not any(dict(labels)["route"] == "/monitor/stream" and dict(labels)["status"] != "200" for labels in counts)
    samples = await scrape(served)
    streamed = (("method", "GET"), ("route", "/monitor/stream"), ("status", "200"))
    assert streamed not in samples.get("qualia_http_request_duration_seconds_count", {})  # a stream is not timed
