"""Rate limits (ops/ratelimit.py): token buckets on a fake clock, settings, and 429s from a real server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from qualia.kernel.errors import InvalidSetting
from qualia.kernel.signatures import sign_body
from qualia.ops.ratelimit import RateLimitSettings, TokenBuckets, parse_rate
from tests.conftest import PROJECT, problem_plugin

from .conftest import error_of, json_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_the_rate():
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: one token comes in 1/rate s
    assert buckets.take("b") == 0.0  # another key has its own bucket
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25)  # half a token: still refused, and refusals take nothing
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 3600  # a long pause refills only up to the burst
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_buckets_are_bounded_and_idle_ones_expire():
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=2, max_buckets=100, clock=clock)
    for n in range(250):
        buckets.take(f"client-{n}")
    assert len(buckets) == 100  # the cap: the least recently used went first
    buckets.take("client-249")
    assert buckets.take("client-249") > 0  # a recent bucket was kept, with its count
    clock.now += 2.0  # every bucket is full again: as good as new, so they expire as new clients come
    for n in range(60):
        buckets.take(f"new-{n}")
    assert len(buckets) < 100
    clock.now += 2.0
    for n in range(200):
        buckets.take(f"newer-{n}")
        clock.now += 0.5
    assert len(buckets) <= 5  # only the clients seen in the last burst/rate seconds are kept


def test_bucket_cost_is_small():
    buckets = TokenBuckets(rate=1e9, burst=1e9)
    keys = [f"key:{n}" for n in range(16)]
    started = time.perf_counter()
    for _ in range(5_000):
        for key in keys:
            buckets.take(key)
    per_call = (time.perf_counter() - started) / 80_000
    assert per_call < 20e-6, f"{per_call * 1e6:.2f} µs per take()"  # typically well under 1 µs


def test_rates_and_settings():
    assert parse_rate("100/s", "V") == (100.0, 100.0)
    assert parse_rate(" 600 / min ", "V") == (10.0, 600.0)
    assert parse_rate("1.5/sec", "V") == (1.5, 1.5)
    assert parse_rate("30/m", "V") == (0.5, 30.0)
    for bad in ("100", "fast", "0/s", "-3/s", "10/h", "1e3/s", "/s", "nan/s"):
        with pytest.raises(InvalidSetting, match="QUALIA_RATE_LIMIT") as info:
            parse_rate(bad, "QUALIA_RATE_LIMIT")
        assert info.value.details["variable"] == "QUALIA_RATE_LIMIT"
    assert RateLimitSettings.from_env({}) == RateLimitSettings()
    settings = RateLimitSettings.from_env({"QUALIA_RATE_LIMIT": "120/min", "QUALIA_WEBHOOK_RATE_LIMIT": "5/s",
                                           "QUALIA_WEBHOOK_RATE_BURST": "20"})
    assert (settings.rate, settings.burst, settings.label) == (2.0, 120.0, "120/min")  # burst defaults to N
    assert (settings.webhook_rate, settings.webhook_burst) == (5.0, 20.0)
    for env, variable in (({"QUALIA_RATE_LIMIT": "10/s", "QUALIA_RATE_BURST": "0"}, "QUALIA_RATE_BURST"),
                          ({"QUALIA_RATE_LIMIT": "10/s", "QUALIA_RATE_BURST": "many"}, "QUALIA_RATE_BURST"),
                          ({"QUALIA_RATE_BURST": "10"}, "QUALIA_RATE_BURST"),
                          ({"QUALIA_WEBHOOK_RATE_LIMIT": "lots"}, "QUALIA_WEBHOOK_RATE_LIMIT")):
        with pytest.raises(InvalidSetting, match=variable):
            RateLimitSettings.from_env(env)


async def test_over_the_limit_is_429_with_retry_after(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "6/min")
    monkeypatch.setenv("QUALIA_RATE_BURST", "2")
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    session = served.session
    async with session.post("/analyze/echo", json={"text": "one"}) as r:
        assert r.status == 200
    async with session.get("/plugins") as r:
        assert r.status == 200
    async with session.post("/analyze/echo", json={"text": "three"}) as r:
        error = await error_of(r, 429, "rate_limited")
    assert r.headers["Retry-After"] in ("9", "10")  # one token per 10 s, rounded up to whole seconds
    assert error["details"]["retry_after_s"] == int(r.headers["Retry-After"])
    assert error["details"]["limit"] == "6/min" and "QUALIA_RATE_LIMIT" in error["message"]
    assert served.kernel.plugin_status("echo").calls == 1  # the refused call never ran
    for _ in range(20):  # /health is never limited
        async with session.get("/health") as r:
            assert r.status == 200
    async with session.get("/no/such/route") as r:  # everything else counts, unknown routes too
        await error_of(r, 429, "rate_limited")


async def test_each_api_key_has_its_own_bucket(serve, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", "key-one,key-two")
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "1/min")
    served = await serve()
    session = served.session
    for key in ("key-one", "key-two"):
        async with session.get("/plugins", headers={"Authorization": f"Bearer {key}"}) as r:
            assert r.status == 200
    for key in ("key-one", "key-two"):
        async with session.get("/plugins", headers={"Authorization": f"Bearer {key}"}) as r:
            await error_of(r, 429, "rate_limited")
        assert r.headers["Retry-After"] == "60"
    for _ in range(3):  # refused keys do not take tokens (and get 401, not 429)
        async with session.get("/plugins", headers={"Authorization": "Bearer key-three"}) as r:
            await error_of(r, 401, "unauthorized")


async def test_webhooks_have_their_own_limit_per_source(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "1/min")
    monkeypatch.setenv("QUALIA_WEBHOOK_RATE_LIMIT", "2/min")
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET", "hook-secret")
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    session = served.session
    async with session.get("/plugins") as r:  # the general bucket of this address is now empty
        assert r.status == 200

    async def hook(n: int) -> int:
        body = json.dumps({"plugin": "echo", "text": f"event {n}"}).encode()
        headers = {"Content-Type": "application/json", "X-Qualia-Signature": sign_body("hook-secret", body)}
        async with session.post("/webhook/custom", data=body, headers=headers) as r:
            if r.status == 429:
                error = await error_of(r, 429, "rate_limited")
                assert "QUALIA_WEBHOOK_RATE_LIMIT" in error["message"] and r.headers["Retry-After"] == "30"
            else:
                await json_of(r)
            return r.status

    assert [await hook(n) for n in range(3)] == [202, 202, 429]
    async with session.post("/webhook/github", json={}) as r:  # another source, another bucket: 404 unconfigured
        await error_of(r, 404, "webhook_not_configured")
    async with session.get("/plugins") as r:
        await error_of(r, 429, "rate_limited")


async def test_webhooks_are_not_limited_by_the_general_limit(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "1/min")
    served = await serve()
    for _ in range(5):
        async with served.session.post("/webhook/custom", json={}) as r:
            await error_of(r, 404, "webhook_not_configured")


@pytest.mark.parametrize(("variable", "value"), [("QUALIA_RATE_LIMIT", "fast"), ("QUALIA_API_KEYS", " ,"),
                                                 ("QUALIA_SENTRY_DSN", "not a dsn")])
def test_qualia_serve_stops_at_once_on_an_invalid_setting(tmp_path, variable, value):
    env = {**os.environ, "PYTHONPATH": str(PROJECT), variable: value}
    done = subprocess.run([sys.executable, "-m", "qualia.kernel.cli", "--home", str(tmp_path / "home"), "serve",
                           "--port", "0"], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"qualia serve: error: {variable}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_open_routes_with_keys_on_are_limited_by_address(serve, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", "key-one")
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "1/min")
    served = await serve()
    async with served.session.get("/monitor/monitor.css") as r:  # open (no key), so counted per address
        assert r.status == 200
    async with served.session.get("/monitor/monitor.js") as r:
        await error_of(r, 429, "rate_limited")
    async with served.session.get("/plugins", headers={"Authorization": "Bearer key-one"}) as r:
        assert r.status == 200  # the key's own bucket
