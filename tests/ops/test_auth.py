"""API keys (ops/auth.py) through a real server: who gets in, who gets 401, and that keys never leak."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys

import aiohttp
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from qualia.kernel.errors import InvalidSetting
from qualia.kernel.server import ServerSettings, create_app
from qualia.kernel.signatures import sign_body
from qualia.ops import auth
from qualia.ops.auth import ApiKeys, load_keys
from tests.conftest import problem_plugin

from .conftest import error_of, json_of

KEY_A = "qk_live_4f9a8c1e2b7d4a6f9e0c3b5a7d9f1e2c"
KEY_B = "qk_live_second-key_Zx9Yw8Vu7Ts6"
KEYS = f"{KEY_A}, {KEY_B}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_every_route_but_health_needs_a_key(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEYS)
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    session = served.session
    async with session.get("/health") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    for method, path in [("GET", "/plugins"), ("GET", "/plugins/echo"), ("POST", "/analyze/echo"),
                         ("GET", "/jobs"), ("GET", "/openapi.json"), ("GET", "/metrics"), ("GET", "/no/such/route"),
                         ("POST", "/health")]:
        async with session.request(method, path, json={"text": "x"}) as r:
            error = await error_of(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="qualia"', (method, path)
        assert "Authorization: Bearer" in error["message"]
    assert served.kernel.status() == {}  # nothing ran
    async with session.get("/plugins", headers=bearer("not-a-key")) as r:
        error = await error_of(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="qualia", error="invalid_token"'
    assert error["message"] == "the API key is not valid"
    for header in (f"Basic {KEY_A}", KEY_A, "Bearer", f"Bearer {KEY_A}x", f"Bearer {KEY_A[:-1]}"):
        async with session.get("/plugins", headers={"Authorization": header}) as r:
            await error_of(r, 401, "unauthorized")
    async with session.get("/plugins", params={"key": KEY_A}) as r:  # ?key= only on the dashboard
        await error_of(r, 401, "unauthorized")

    for key in (KEY_A, KEY_B):
        async with session.get("/plugins", headers=bearer(key)) as r:
            assert r.status == 200 and [p["id"] for p in (await json_of(r))["plugins"]] == ["echo"]
    async with session.post("/analyze/echo", json={"text": "hi"}, headers={"Authorization": f"bearer  {KEY_B} "}) as r:
        assert (await json_of(r))["result"] == {"echo": "hi"}
    async with session.get("/no/such/route", headers=bearer(KEY_A)) as r:  # past the key, the usual answers
        await error_of(r, 404, "not_found")
    async with session.post("/analyze/echo", data=b"{", headers={**bearer(KEY_A),
                                                                 "Content-Type": "application/json"}) as r:
        await error_of(r, 400, "malformed_body")


async def test_keys_from_a_file_with_comments(serve, plugin_dir, monkeypatch, tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"# team keys\n\n{KEY_A}   # ana\n   \n# {KEY_B} revoked\n", encoding="utf-8")
    monkeypatch.setenv("QUALIA_API_KEYS_FILE", str(keys_file))
    monkeypatch.setenv("QUALIA_API_KEYS", "inline-key-1")
    served = await serve()
    for key, status in ((KEY_A, 200), ("inline-key-1", 200), (KEY_B, 401), ("# team keys", 401)):
        async with served.session.get("/plugins", headers=bearer(key)) as r:
            assert r.status == status, key


async def test_dashboard_and_stream_take_the_key_in_the_query(serve, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEYS)
    served = await serve()
    session = served.session
    async with session.get("/monitor") as r:
        await error_of(r, 401, "unauthorized")
    async with session.get("/monitor", params={"key": "wrong"}) as r:
        await error_of(r, 401, "unauthorized")
    async with session.get("/monitor", params={"key": KEY_A}) as r:
        assert r.status == 200 and r.content_type == "text/html"
    async with session.get("/monitor", headers=bearer(KEY_B)) as r:
        assert r.status == 200
    for asset in ("/monitor/monitor.js", "/monitor/monitor.css"):  # static, no data: a browser loads them bare
        async with session.get(asset) as r:
            assert r.status == 200, asset
    async with session.get("/monitor/stream") as r:
        await error_of(r, 401, "unauthorized")
    async with session.get("/monitor/stream", params={"key": KEY_B}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        first = await asyncio.wait_for(r.content.readline(), 5)
        assert first.startswith((b"retry:", b"event:", b":"))


async def test_webhooks_are_authenticated_by_their_signature_not_by_keys(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEYS)
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET", "hook-secret")
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    body = json.dumps({"plugin": "echo", "text": "from a hook"}).encode()
    headers = {"Content-Type": "application/json", "X-Qualia-Signature": sign_body("hook-secret", body)}
    async with served.session.post("/webhook/custom", data=body, headers=headers) as r:
        accepted = await json_of(r)
    assert r.status == 202 and accepted["job_id"]
    headers["X-Qualia-Signature"] = sign_body("another-secret", body)
    async with served.session.post("/webhook/custom", data=body, headers=headers) as r:
        error = await error_of(r, 401, "unauthorized")
    assert "X-Qualia-Signature" in error["message"] and "WWW-Authenticate" not in r.headers
    async with served.session.get(f"/jobs/{accepted['job_id']}") as r:  # the job itself needs a key
        await error_of(r, 401, "unauthorized")
    async with served.session.get(f"/jobs/{accepted['job_id']}", headers=bearer(KEY_A)) as r:
        assert r.status == 200


async def test_keys_never_reach_the_logs(serve, plugin_dir, monkeypatch, caplog):
    monkeypatch.setenv("QUALIA_API_KEYS", KEYS)
    problem_plugin(plugin_dir, "boom", "crash_on_call")
    caplog.set_level(logging.DEBUG)
    served = await serve(server={"access_log": True})
    session = served.session
    async with session.get("/monitor", params={"key": KEY_A, "theme": "dark"}) as r:
        assert r.status == 200
    async with session.get("/monitor", params={"key": KEY_B + "-wrong"}) as r:
        assert r.status == 401
    async with session.get("/plugins", headers=bearer(KEY_B)) as r:
        assert r.status == 200
    async with session.post("/analyze/boom", json={"text": "x"}, headers=bearer(KEY_A)) as r:
        assert r.status == 502  # a logged failure while a key was in use
    await served.stop()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/monitor?key=***&theme=dark" in text  # the access log line, masked
    assert "API keys: on (2 keys" in text
    for secret in (KEY_A, KEY_B):
        assert secret not in text and secret[:12] not in text


def test_load_keys_and_invalid_settings(tmp_path):
    assert load_keys({}) is None
    assert load_keys({"QUALIA_API_KEYS": "a1, b2,a1"}) == ["a1", "b2"]
    with pytest.raises(InvalidSetting, match="QUALIA_API_KEYS is set but holds no API key") as info:
        load_keys({"QUALIA_API_KEYS": ",,"})
    assert info.value.details["variable"] == "QUALIA_API_KEYS"
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    with pytest.raises(InvalidSetting, match="QUALIA_API_KEYS_FILE is set but holds no API key"):
        load_keys({"QUALIA_API_KEYS_FILE": str(empty)})
    with pytest.raises(InvalidSetting, match="QUALIA_API_KEYS_FILE: cannot read the keys file"):
        load_keys({"QUALIA_API_KEYS_FILE": str(tmp_path / "missing.txt")})
    with pytest.raises(InvalidSetting, match="QUALIA_API_KEYS, entry 2") as info:
        load_keys({"QUALIA_API_KEYS": "fine-key, zebra crossing"})
    assert "zebra" not in str(info.value)  # a key (even a broken one) is never echoed
    bad_file = tmp_path / "bad.txt"
    bad_file.write_text("good-key\nbad\x00key\n")
    with pytest.raises(InvalidSetting, match="entry 2") as info:
        load_keys({"QUALIA_API_KEYS_FILE": str(bad_file)})
    assert info.value.details["variable"] == "QUALIA_API_KEYS_FILE"


def test_keys_are_compared_in_constant_time(monkeypatch):
    keys = ApiKeys(["k-one", "k-two", "k-three-is-longer"])
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    for token, expected in (("k-one", 0), ("k-two", 1), ("k-three-is-longer", 2), ("nope", None), ("", None)):
        calls.clear()
        assert keys.match(token) == expected
        assert len(calls) == 3, "every key is compared, whichever matches"
        assert {b for _, b in calls} == {b"k-one", b"k-two", b"k-three-is-longer"}


def test_configured_keys_are_never_dropped_silently(monkeypatch, caplog, fast_settings):
    monkeypatch.setitem(sys.modules, "qualia.ops.server", None)  # `import qualia.ops.server` now fails
    caplog.set_level(logging.INFO)
    app = create_app(kernel_settings=fast_settings, settings=ServerSettings(access_log=False))
    assert isinstance(app, web.Application)
    assert sum("qualia.server_addons:ops" in r.getMessage() and "cannot be used" in r.getMessage()
               for r in caplog.records) == 1
    monkeypatch.setenv("QUALIA_API_KEYS", KEY_A)
    with pytest.raises(InvalidSetting, match="refusing to serve without API keys"):
        create_app(kernel_settings=fast_settings, settings=ServerSettings(access_log=False))


async def test_query_keys_are_decoded_like_a_browser_sends_them(serve, monkeypatch):
    key = "abc+/def=="  # b64 characters: a page must percent-encode them (encodeURIComponent does)
    monkeypatch.setenv("QUALIA_API_KEYS", key)
    served = await serve()
    async with aiohttp.ClientSession(served.url) as client:
        async with client.get("/monitor?key=abc%2B%2Fdef%3D%3D") as r:
            assert r.status == 200
        async with client.get("/plugins", headers=bearer(key)) as r:
            assert r.status == 200


async def test_keys_and_limits_share_one_middleware_and_the_api_doc_says_so(serve, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEY_A)
    monkeypatch.setenv("QUALIA_RATE_LIMIT", "100/s")
    served = await serve()
    names = [getattr(m, "__name__", "") for m in served.app.middlewares]
    assert names.count("operations_gate") == 1 and names[-1] == "operations_gate"  # innermost: after the errors
    async with served.session.get("/openapi.json", headers=bearer(KEY_A)) as r:
        description = (await json_of(r))["info"]["description"]
    assert "Authorization: Bearer <key>" in description and "429" in description


async def test_setup_auth_alone_with_explicit_keys(serve):
    served = await serve(setup=lambda app: auth.setup_auth(app, keys=["only-key"]))
    async with served.session.get("/plugins") as r:
        await error_of(r, 401, "unauthorized")
    async with served.session.get("/plugins", headers=bearer("only-key")) as r:
        assert r.status == 200


# ---- the OpenAPI document says what the keys require (issue 9, defect 10) -------------------------------

async def test_with_keys_the_api_doc_declares_a_bearer_scheme_and_which_routes_are_open(serve, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEY_A)
    served = await serve()
    async with served.session.get("/openapi.json", headers=bearer(KEY_A)) as r:
        doc = await json_of(r)
    validate(doc)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                     "description": schemes["bearerAuth"]["description"]}
    assert schemes["queryKey"] == {"type": "apiKey", "in": "query", "name": "key",
                                   "description": schemes["queryKey"]["description"]}
    assert doc["security"] == [{"bearerAuth": []}]
    operations = {(method, path): op for path, item in doc["paths"].items() for method, op in item.items()}
    assert operations["get", "/health"]["security"] == []  # open: load balancers, HEALTHCHECK
    assert operations["post", "/webhook/{source}"]["security"] == []  # signed instead
    for path in ("/monitor", "/monitor/stream"):  # EventSource cannot send headers
        assert operations["get", path]["security"] == [{"bearerAuth": []}, {"queryKey": []}]
    secured = [key for key, op in operations.items() if "security" not in op]  # the document's default: a key
    assert ("post", "/analyze/{id}") in secured and ("get", "/openapi.json") in secured
    for key in secured:
        assert "401" in operations[key]["responses"], key
    # What the document says is what the server does.
    for (method, path), op in operations.items():
        if "{" in path or method != "get" or path == "/monitor/stream":
            continue
        async with served.session.get(path) as r:
            assert (r.status == 401) == ("security" not in op or op["security"] != []), (path, r.status)


async def test_without_keys_the_api_doc_declares_no_security(serve):
    served = await serve()
    async with served.session.get("/openapi.json") as r:
        doc = await json_of(r)
    assert "securitySchemes" not in doc["components"] and "security" not in doc
    assert all("security" not in op for item in doc["paths"].values() for op in item.values())
