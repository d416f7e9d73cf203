"""Every error status of the front, each in the one JSON shape `{"error": {code, message, details}}`."""
from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.conftest import problem_plugin

from .conftest import error_of, json_of

WORD_PARAMS = '[parameters.top_n]\ntype = "integer"\ndefault = 5\nmin = 1\nmax = 100\n'


async def test_malformed_json_is_400_saying_where(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    body = b'{\n  "text": "hello",\n  "config": {top_n: 3}\n}'
    async with served.session.post("/analyze/echo", data=body, headers={"Content-Type": "application/json"}) as r:
        error = await error_of(r, 400, "malformed_body")
    assert error["details"]["line"] == 3 and error["details"]["column"] == 14
    assert "line 3, column 14" in error["message"]
    async with served.session.post("/analyze/echo", data=b"", headers={"Content-Type": "application/json"}) as r:
        error = await error_of(r, 400, "malformed_body")
    assert "empty" in error["message"]


async def test_wrong_content_type_is_415(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    async with served.session.post("/analyze/echo", data=b'{"text": "x"}',
                                   headers={"Content-Type": "text/plain"}) as r:
        error = await error_of(r, 415, "unsupported_media_type")
    assert "application/json" in error["message"] and error["details"]["got"] == "text/plain"
    async with served.session.post("/analyze/echo", data=b'{"text": "x"}') as r:  # no content type at all
        await error_of(r, 415, "unsupported_media_type")
    async with served.session.post("/pipeline", data={"a": "b"}) as r:
        await error_of(r, 415, "unsupported_media_type")
    async with served.session.post("/analyze/echo/file", json={"text": "x"}) as r:
        error = await error_of(r, 415, "unsupported_media_type")
    assert "multipart/form-data" in error["message"]


async def test_body_over_the_limit_is_413(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(server={"max_upload_bytes": 2048})
    async with served.session.post("/analyze/echo", json={"text": "x" * 4000}) as r:
        error = await error_of(r, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 2048

    async def chunked():  # no Content-Length: the limit is enforced while reading
        for _ in range(8):
            yield b'{"text": "' + b"y" * 500
    async with served.session.post("/analyze/echo", data=chunked(), headers={"Content-Type": "application/json"}) as r:
        error = await error_of(r, 413, "payload_too_large")
    assert "2048" in error["message"]

    form = aiohttp.FormData()
    form.add_field("file", b"z" * 4096, filename="big.txt", content_type="text/plain")
    async with served.session.post("/analyze/echo/file", data=form) as r:
        await error_of(r, 413, "payload_too_large")
    async with served.session.post("/analyze/echo", json={"text": "small"}) as r:
        assert r.status == 200


async def test_invalid_config_is_422_naming_the_key(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok", extra=WORD_PARAMS)
    served = await serve()
    cases = [({"top_n": 0}, "top_n", "must be >= 1"), ({"top_n": "ten"}, "top_n", "expected integer"),
             ({"topn": 3}, "topn", "unknown parameter")]
    for config, key, words in cases:
        async with served.session.post("/analyze/echo", json={"text": "x", "config": config}) as r:
            error = await error_of(r, 422, "invalid_config")
        assert error["details"]["key"] == key and error["details"]["field"] == f"$.config.{key}"
        assert words in error["message"] and repr(key) in error["message"]
    assert served.kernel.status() == {}  # nothing was sent to the plugin


async def test_invalid_body_fields_are_422_with_their_path(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    cases = [({"text": 5}, "$.text"), ({"txt": "x"}, "$.txt"), ({"text": "x", "config": []}, "$.config"),
             ({"document": {"text": "x", "language": "fr"}}, "$.document.language"), ({}, "$.text"),
             ({"text": "a", "document": {"text": "b"}}, "$.document"), ({"text": "x", "cache": "no"}, "$.cache")]
    for body, field in cases:
        async with served.session.post("/analyze/echo", json=body) as r:
            error = await error_of(r, 422, "invalid_request")
        assert error["details"]["field"] == field, (body, error)
    async with served.session.post("/analyze/echo", json=["text"]) as r:
        await error_of(r, 422, "invalid_request")


async def test_plugin_invalid_params_is_422_and_not_counted(serve, plugin_dir):
    problem_plugin(plugin_dir, "picky", "invalid_params")
    served = await serve()
    async with served.session.post("/analyze/picky", json={"text": "x"}) as r:
        error = await error_of(r, 422, "invalid_input")
    assert "text is empty" in error["message"] and error["details"]["key"] == "text"
    assert served.kernel.plugin_status("picky").breaker.total_failures == 0


async def test_route_and_plugin_kind_must_match(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    for route in ("/process/echo", "/visualize/echo"):
        async with served.session.post(route, json={"text": "x"}) as r:
            error = await error_of(r, 422, "wrong_plugin_kind")
        assert "POST /analyze/echo" in error["message"] and error["details"]["kind"] == "analyzer"


async def test_missing_required_artefact_is_422(serve, plugin_dir):
    problem_plugin(plugin_dir, "needy", "ok", extra='requires = ["word_frequencies"]\n')
    served = await serve()
    async with served.session.post("/analyze/needy", json={"text": "x"}) as r:  # no provider to compute it
        error = await error_of(r, 422, "unresolvable")
    assert error["details"]["artefact"] == "word_frequencies" and "'needy' requires" in error["message"]
    async with served.session.post("/analyze/needy", json={"text": "x", "inputs": {"word_frequencies": {}}}) as r:
        assert r.status == 200


async def test_plugin_crash_is_502_with_stderr_tail(serve, plugin_dir):
    problem_plugin(plugin_dir, "bad", "crash_on_call")
    served = await serve()
    async with served.session.post("/analyze/bad", json={"text": "x"}) as r:
        error = await error_of(r, 502, "plugin_crashed")
    assert "'bad'" in error["message"] and "exited with code 3" in error["message"]
    assert "segfault-like crash in native code" in error["details"]["stderr_tail"]
    assert error["details"]["exit_code"] == 3


async def test_plugin_internal_error_is_502(serve, plugin_dir):
    problem_plugin(plugin_dir, "bad", "internal_error")
    served = await serve()
    async with served.session.post("/analyze/bad", json={"text": "x"}) as r:
        error = await error_of(r, 502, "plugin_failed")
    assert "database locked" in error["message"] and error["details"]["rpc_code"] == -32603


async def test_open_breaker_is_503_with_retry_after_and_health_degraded(serve, plugin_dir):
    problem_plugin(plugin_dir, "bad", "crash_on_call")
    problem_plugin(plugin_dir, "good", "ok")
    served = await serve(breaker_failures=2, breaker_open_s=2.5)
    for _ in range(2):
        async with served.session.post("/analyze/bad", json={"text": "x"}) as r:
            await error_of(r, 502, "plugin_crashed")
    async with served.session.post("/analyze/bad", json={"text": "x"}) as r:
        error = await error_of(r, 503, "breaker_open")
    assert r.headers["Retry-After"] == "3"  # ceil of the seconds left, an integer
    assert error["details"]["plugin"] == "bad" and 0 < error["details"]["retry_after_s"] <= 2.5
    async with served.session.get("/health") as r:
        health = await json_of(r)
    assert r.status == 200 and health["status"] == "degraded" and health["degraded"] == ["bad"]
    assert health["plugins"]["bad"]["state"] == "open" and health["plugins"]["bad"]["breaker_failures"] == 2
    async with served.session.post("/analyze/good", json={"text": "x"}) as r:
        assert r.status == 200


async def test_plugin_deadline_is_504(serve, plugin_dir):
    problem_plugin(plugin_dir, "sleepy", "hang", timeout_s=0.5)
    served = await serve()
    async with served.session.post("/analyze/sleepy", json={"text": "x"}) as r:
        error = await error_of(r, 504, "plugin_timeout")
    assert "did not answer within 0.5 s" in error["message"] and error["details"]["timeout_s"] == 0.5


async def test_plugin_that_cannot_start_is_502(serve, plugin_dir):
    problem_plugin(plugin_dir, "dead", "crash_at_start")
    served = await serve()
    async with served.session.post("/analyze/dead", json={"text": "x"}) as r:
        error = await error_of(r, 502, "plugin_start_failed")
    assert "fatal: cannot load the model file" in error["details"]["stderr_tail"]


async def test_unexpected_exception_is_a_logged_500_in_json(serve, caplog):
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    async def too_slow(request: web.Request) -> web.Response:
        raise asyncio.TimeoutError

    def setup(app: web.Application) -> None:
        app.router.add_get("/explode", explode)
        app.router.add_get("/too-slow", too_slow)

    served = await serve(setup=setup)
    with caplog.at_level("ERROR", logger="qualia.server"):
        async with served.session.get("/explode", headers={"Accept": "text/html", "X-Request-ID": "boom-1"}) as r:
            error = await error_of(r, 500, "internal_error")
    assert "secret" not in error["message"] and "Traceback" not in error["message"]
    assert error["details"] == {"request_id": "boom-1"}
    assert any("secret internal detail" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)
    async with served.session.get("/too-slow") as r:
        await error_of(r, 504, "timeout")
