"""GET /health, /plugins, /plugins/{id}, /openapi.json, /docs; request ids; routing errors."""
from __future__ import annotations

import asyncio
import re

import pytest
from openapi_spec_validator import validate

from qualia.kernel import __version__
from tests.conftest import problem_plugin

from .conftest import error_of, json_of


async def test_health_lists_every_plugin_without_starting_any(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    problem_plugin(plugin_dir, "other", "ok")
    served = await serve()
    async with served.session.get("/health") as response:
        body = await json_of(response)
    assert response.status == 200
    assert body["status"] == "ok" and body["version"] == __version__ and body["degraded"] == []
    assert body["uptime_s"] >= 0
    assert set(body["plugins"]) == {"echo", "other"}
    assert body["plugins"]["echo"]["state"] == "not started"
    assert body["plugins"]["echo"]["processes"] == []
    assert served.kernel.status() == {}


async def test_health_shows_processes_with_pid_after_use(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    async with served.session.post("/analyze/echo", json={"text": "hi"}) as response:
        assert response.status == 200
    async with served.session.get("/health") as response:
        echo = (await json_of(response))["plugins"]["echo"]
    assert echo["state"] == "idle"
    assert len(echo["processes"]) == 1 and echo["processes"][0]["pid"] > 0 and echo["processes"][0]["alive"]
    assert echo["restarts"] == 0 and echo["breaker_failures"] == 0 and echo["calls"] == 1


async def test_health_is_503_once_the_kernel_is_stopped(serve, plugin_dir):
    served = await serve()
    await served.kernel.stop()
    async with served.session.get("/health") as response:
        body = await json_of(response)
    assert response.status == 503 and body["status"] == "stopped"
    async with served.session.post("/analyze/x", json={"text": "t"}) as response:
        await error_of(response, 404)


async def test_plugins_list_and_detail(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok", extra='provides = ["echoes"]\n[parameters.top_n]\ntype = "integer"\n'
                                                  'default = 5\nmin = 1\nmax = 9\ndescription = "how many"\n')
    (plugin_dir / "broken").mkdir()
    (plugin_dir / "broken" / "plugin.toml").write_text("id = 'Broken'\n")
    served = await serve()
    async with served.session.get("/plugins") as response:
        listing = await json_of(response)
    assert [p["id"] for p in listing["plugins"]] == ["echo"]
    summary = listing["plugins"][0]
    assert summary["kind"] == "analyzer" and summary["provides"] == ["echoes"] and summary["state"] == "not started"
    assert len(listing["problems"]) == 1 and "broken" in listing["problems"][0]["path"]

    async with served.session.get("/plugins/echo") as response:
        detail = await json_of(response)
    assert detail["parameters"]["top_n"]["default"] == 5
    assert detail["config_schema"] == {"type": "object", "additionalProperties": False, "properties": {
        "top_n": {"type": "integer", "minimum": 1, "maximum": 9, "default": 5, "description": "how many"}}}
    assert detail["state"] == "not started" and detail["status"] is None
    assert "path" not in detail and "command" not in detail  # no file system details leave the server


@pytest.mark.parametrize("plugin_id", ["nope", "Echo", "1abc", "a-b", "%C3%A9"])
async def test_unknown_or_malformed_plugin_id_is_404(serve, plugin_dir, plugin_id):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    async with served.session.get(f"/plugins/{plugin_id}") as response:
        error = await error_of(response, 404, "unknown_plugin")
    async with served.session.post(f"/analyze/{plugin_id}", json={"text": "x"}) as response:
        await error_of(response, 404, "unknown_plugin")
    assert repr(error["details"]["plugin"])[1:-1] in error["message"]


async def test_unknown_route_is_404_json(serve):
    served = await serve()
    async with served.session.get("/no/such/route") as response:
        error = await error_of(response, 404, "not_found")
    assert "GET /no/such/route" in error["message"]


async def test_wrong_method_is_405_with_allow(serve):
    served = await serve()
    async with served.session.delete("/health") as response:
        error = await error_of(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD"
    assert error["details"]["allowed"] == ["GET", "HEAD"]
    async with served.session.get("/analyze/echo") as response:
        await error_of(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


async def test_request_id_is_echoed_when_sane_and_generated_otherwise(serve, plugin_dir):
    problem_plugin(plugin_dir, "meta", "metadata")
    served = await serve()
    async with served.session.get("/health", headers={"X-Request-ID": "client-42.a:b"}) as response:
        assert response.headers["X-Request-ID"] == "client-42.a:b"
    seen = set()
    for header in ({}, {"X-Request-ID": "bad id with spaces"}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": ""}):
        async with served.session.get("/health", headers=header) as response:
            generated = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{16}", generated)
        seen.add(generated)
    assert len(seen) == 4
    # Errors carry it too, and the kernel hands it to the plugin.
    async with served.session.get("/nope", headers={"X-Request-ID": "err-1"}) as response:
        assert response.status == 404 and response.headers["X-Request-ID"] == "err-1"
    async with served.session.post("/analyze/meta", json={"text": "t"}, headers={"X-Request-ID": "run-7"}) as response:
        body = await json_of(response)
    assert response.headers["X-Request-ID"] == "run-7" and body["result"]["request_id"] == "run-7"


async def test_request_id_is_in_log_lines(serve, plugin_dir, caplog):
    from qualia.kernel.server.logs import RequestIdFilter

    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level("INFO", logger="qualia"):
        async with served.session.post("/analyze/echo", json={"text": "t"}, headers={"X-Request-ID": "log-me"}):
            pass
    started = [r for r in caplog.records if r.name == "qualia.supervisor" and "started plugin echo" in r.message]
    assert started and started[0].request_id == "log-me"


async def test_openapi_document_is_valid_and_covers_every_route(serve):
    served = await serve()
    async with served.session.get("/openapi.json") as response:
        doc = await json_of(response)
    validate(doc)  # openapi-spec-validator: raises on an invalid document
    assert doc["openapi"].startswith("3.1")
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    routes = {(route.method, route.resource.canonical) for route in served.app.router.routes()
              if route.method != "HEAD"}
    assets = {("GET", "/docs/docs.js"), ("GET", "/docs/docs.css"), ("GET", "/monitor/monitor.js"),
              ("GET", "/monitor/monitor.css")}  # the pages' own script and style sheet
    assert routes - assets == operations
    schemas = doc["components"]["schemas"]
    assert {"RunRequest", "AnalyzeResponse", "ErrorBody", "HealthResponse", "PipelineRequest"} <= set(schemas)
    # Generated from the msgspec types: a field added there shows up here.
    assert set(schemas["RunRequest"]["properties"]) == {"text", "document", "config", "inputs", "cache", "clean",
                                                        "raw", "configs"}
    analyze = doc["paths"]["/analyze/{id}"]["post"]
    assert {"400", "404", "413", "415", "422", "502", "503", "504"} <= set(analyze["responses"])
    assert analyze["responses"]["503"]["headers"]["Retry-After"]


async def test_a_jobs_event_stream_is_described_as_what_it_sends(serve, plugin_dir):
    """Schemathesis reads text/event-stream answers event by event: each must fit the document."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    async with served.session.get("/openapi.json") as response:
        doc = await json_of(response)
    content = doc["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream"}
    assert content["text/event-stream"]["schema"]["properties"]["event"]["enum"] == ["state", "progress",
                                                                                  "step_progress", "done"]
    async with served.session.post("/jobs", json={"plugin": "echo", "documents": ["a", "b"]}) as response:
        job_id = (await json_of(response))["job_id"]

    def check() -> None:
        case = schemathesis.openapi.from_dict(doc)["/jobs/{job_id}/events"]["GET"].Case(
            path_parameters={"job_id": job_id})
        answer = case.call(base_url=served.url, timeout=10)
        assert answer.status_code == 200 and b"event: done" in answer.content
        case.validate_response(answer, checks=[status_code_conformance, content_type_conformance,
                                               response_schema_conformance])

    await asyncio.to_thread(check)


async def test_docs_page_is_self_contained(serve):
    served = await serve()
    async with served.session.get("/docs") as response:
        html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the docs page must not load external assets"
    for asset in re.findall(r"(?:src|href)=\"(/docs/[^\"]+)\"", html):
        async with served.session.get(asset) as response:
            text = await response.text()
        assert response.status == 200
        assert "http://" not in text and "https://" not in text
    async with served.session.get("/docs/docs.js") as response:
        assert "/openapi.json" in await response.text()


async def test_streamed_answers_carry_the_request_id_too(serve):
    from aiohttp import web

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        return response

    served = await serve(setup=lambda app: app.router.add_get("/stream", stream))
    async with served.session.get("/stream", headers={"X-Request-ID": "sse-1"}) as response:
        assert await response.read() == b"data: one\n\n"
    assert response.headers["X-Request-ID"] == "sse-1"


def test_server_settings_from_the_environment():
    from qualia.kernel.server import ServerSettings

    settings = ServerSettings.from_env({"QUALIA_MAX_UPLOAD_BYTES": "1024", "QUALIA_SHUTDOWN_TIMEOUT_S": "2.5",
                                        "QUALIA_ACCESS_LOG": "off"})
    assert (settings.max_upload_bytes, settings.shutdown_timeout_s, settings.access_log) == (1024, 2.5, False)
    assert ServerSettings.from_env({}).max_upload_bytes == 25 * 1024 * 1024
    for env in ({"QUALIA_MAX_UPLOAD_BYTES": "lots"}, {"QUALIA_MAX_UPLOAD_BYTES": "0"},
                {"QUALIA_SHUTDOWN_TIMEOUT_S": "-1"}):
        with pytest.raises(ValueError, match="QUALIA_"):
            ServerSettings.from_env(env)
