"""Sentry (ops/sentry.py) against a fake Sentry on 127.0.0.1 that decodes the envelopes it receives.

A plugin crash sends one event tagged with the plugin id, its version and the
request id, carrying the plugin's stderr tail; an unexpected exception (500)
sends one with its traceback; caller errors (4xx) and 503s send nothing;
without a DSN nothing is set up at all; the process's global Sentry client is
closed and cleared when the app stops.
"""
from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import sentry_sdk
from aiohttp import web

from qualia.kernel.errors import InvalidSetting
from qualia.kernel.server import create_app
from qualia.kernel.server.state import ERROR_REPORTERS, ServerSettings
from qualia.ops import sentry as ops_sentry
from tests.conftest import problem_plugin

from .conftest import error_of, json_of


def boom_route(app: web.Application) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("kaboom: an unexpected bug")

    app.router.add_get("/test-only/boom", boom)


async def flush() -> None:
    await asyncio.to_thread(sentry_sdk.flush, 5)


@pytest.fixture(autouse=True)
def _no_sentry_left_behind():
    assert not sentry_sdk.get_client().is_active()
    threads = set(threading.enumerate())
    yield
    assert not sentry_sdk.get_client().is_active(), "a Sentry client outlived its app"
    leftover = [t for t in threading.enumerate() if t not in threads and t.is_alive() and "sentry" in t.name.lower()]
    assert not leftover, leftover


async def test_a_plugin_crash_sends_one_event_with_plugin_and_request(serve, plugin_dir, monkeypatch, fake_sentry):
    monkeypatch.setenv("QUALIA_SENTRY_DSN", fake_sentry.dsn)
    monkeypatch.setenv("QUALIA_SENTRY_ENVIRONMENT", "test")
    problem_plugin(plugin_dir, "crashy", "crash_on_call")
    served = await serve()
    assert sentry_sdk.get_client().is_active()
    async with served.session.post("/analyze/crashy", json={"text": "x"}, headers={"X-Request-ID": "req-crash-1"}) as r:
        error = await error_of(r, 502, "plugin_crashed")
    assert "segfault-like crash" in error["message"]
    await flush()
    events = await fake_sentry.wait_events(1)
    await asyncio.sleep(0.2)
    assert len(fake_sentry.events) == 1, fake_sentry.events
    event = events[0]
    assert event["tags"]["plugin_id"] == "crashy"
    assert event["tags"]["plugin_version"] == "1.0.0"
    assert event["tags"]["request_id"] == "req-crash-1"
    assert event["tags"]["error_code"] == "plugin_crashed" and event["tags"]["route"] == "/analyze/{id}"
    assert event["environment"] == "test" and event["release"].startswith("qualia-core@")
    plugin = event["contexts"]["plugin"]
    assert plugin["id"] == "crashy" and plugin["version"] == "1.0.0" and plugin["exit_code"] == 3
    assert "segfault-like crash in native code" in plugin["stderr_tail"]
    assert "segfault-like crash in native code" in event["extra"]["stderr_tail"]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "PluginCrashed" and "crashy" in exception["value"]
    assert event["fingerprint"] == ["qualia-plugin-fault", "crashy", "plugin_crashed"]
    assert "request" not in event  # no headers, no body
    assert fake_sentry.encodings[0] in ("gzip", "br")  # decompressed here, as Sentry would


async def test_caller_errors_and_503_send_nothing(serve, plugin_dir, monkeypatch, fake_sentry):
    monkeypatch.setenv("QUALIA_SENTRY_DSN", fake_sentry.dsn)
    problem_plugin(plugin_dir, "picky", "invalid_params")
    served = await serve()
    session = served.session
    async with session.post("/analyze/picky", json={"text": "x"}) as r:
        await error_of(r, 422, "invalid_input")
    async with session.post("/analyze/nope", json={"text": "x"}) as r:
        await error_of(r, 404)
    async with session.post("/analyze/picky", data=b"{", headers={"Content-Type": "application/json"}) as r:
        await error_of(r, 400, "malformed_body")
    reporters = served.app[ERROR_REPORTERS]
    assert len(reporters) == 1
    from qualia.kernel.errors import BreakerOpen
    request = type("R", (), {"get": lambda self, key, default=None: None, "method": "GET", "path": "/x"})()
    reporters[0].report(request, BreakerOpen("open"), 503)  # a state, not a fault
    await flush()
    await asyncio.sleep(0.3)
    assert fake_sentry.events == []


async def test_an_unexpected_exception_sends_an_event(serve, monkeypatch, fake_sentry):
    monkeypatch.setenv("QUALIA_SENTRY_DSN", fake_sentry.dsn)
    served = await serve(setup=boom_route)
    async with served.session.get("/test-only/boom") as r:
        error = await error_of(r, 500, "internal_error")
    request_id = error["details"]["request_id"]
    await flush()
    (event,) = await fake_sentry.wait_events(1)
    assert event["tags"]["request_id"] == request_id == r.headers["X-Request-ID"]
    assert "plugin_id" not in event["tags"]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError" and exception["value"] == "kaboom: an unexpected bug"
    frames = exception["stacktrace"]["frames"]
    assert any(frame["function"] == "boom" for frame in frames)
    assert all("vars" not in frame for frame in frames)  # no local variables leave the process


async def test_pending_events_are_flushed_when_the_app_stops(serve, plugin_dir, monkeypatch, fake_sentry):
    monkeypatch.setenv("QUALIA_SENTRY_DSN", fake_sentry.dsn)
    served = await serve(setup=boom_route)
    for _ in range(3):
        async with served.session.get("/test-only/boom") as r:
            assert r.status == 500
    await served.stop()  # no explicit flush: closing the app flushes and closes the client
    assert not sentry_sdk.get_client().is_active()
    assert len(fake_sentry.events) == 3


async def test_without_a_dsn_nothing_is_set_up(serve, plugin_dir, caplog):
    caplog.set_level(logging.INFO)
    problem_plugin(plugin_dir, "crashy", "crash_on_call")
    served = await serve(setup=boom_route)
    assert ERROR_REPORTERS not in served.app
    async with served.session.post("/analyze/crashy", json={"text": "x"}) as r:
        await error_of(r, 502)
    async with served.session.get("/test-only/boom") as r:
        await error_of(r, 500)
    assert not sentry_sdk.get_client().is_active()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sentry:")]
    assert lines == ["Sentry: off (QUALIA_SENTRY_DSN is not set)"]


async def test_without_sentry_sdk_the_feature_is_off_with_one_line(serve, monkeypatch, caplog, fake_sentry):
    monkeypatch.setattr(ops_sentry, "sentry_sdk", None)
    monkeypatch.setattr(ops_sentry, "_IMPORT_ERROR", ImportError("No module named 'sentry_sdk'"))
    monkeypatch.setenv("QUALIA_SENTRY_DSN", fake_sentry.dsn)
    caplog.set_level(logging.INFO)
    served = await serve(setup=boom_route)
    async with served.session.get("/test-only/boom") as r:
        await error_of(r, 500)
    async with served.session.get("/health") as r:
        assert (await json_of(r))["status"] == "ok"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sentry:")]
    assert lines == ["Sentry: off: QUALIA_SENTRY_DSN is set but sentry_sdk cannot be imported "
                     "(No module named 'sentry_sdk')"]
    assert fake_sentry.events == []


def test_an_invalid_dsn_is_a_clear_startup_error(monkeypatch, fast_settings):
    monkeypatch.setenv("QUALIA_SENTRY_DSN", "ftp://secret@example.org/1")
    with pytest.raises(InvalidSetting, match="QUALIA_SENTRY_DSN is not a valid Sentry DSN") as info:
        create_app(kernel_settings=fast_settings, settings=ServerSettings(access_log=False))
    assert "secret" not in str(info.value)


async def test_a_failing_reporter_never_changes_the_answer(serve, plugin_dir, caplog):
    class Broken:
        def report(self, request, exc, status):
            raise ValueError("reporter bug")

    def setup(app: web.Application) -> None:
        boom_route(app)
        app[ERROR_REPORTERS] = [Broken()]

    served = await serve(setup=setup)
    async with served.session.get("/test-only/boom") as r:
        await error_of(r, 500, "internal_error")
    assert any("error reporter" in record.getMessage() for record in caplog.records)
