"""Reloading while serving: POST /plugins/{id}/reload and /breaker/reset behind the API key, `qualia serve
--reload` picking up a saved edit within 2 s, and the same actions from the CLI against a running server."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.test_reload import versioned_plugin

from .conftest import error_of, json_of

KEY = "qk_test_reload_5f1e2d3c4b5a"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUALIA = str(Path(sys.executable).parent / "qualia")


async def test_reload_and_breaker_reset_need_the_api_key_and_act(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_API_KEYS", KEY)
    versioned_plugin(plugin_dir, "routed", "before")
    served = await serve()
    session = served.session
    for path in ("/plugins/routed/reload", "/plugins/routed/breaker/reset"):
        async with session.post(path) as response:
            await error_of(response, 401, "unauthorized")
    async with session.post("/analyze/routed", json={"text": "x"}, headers=AUTH) as response:
        assert (await json_of(response))["result"] == {"answer": "before"}

    async with session.post("/plugins/routed/reload", headers=AUTH) as response:
        body = await json_of(response)
    assert body == {"plugin": "routed", "version": "1.0.0", "reloaded": False, "changed": [], "problems": 0}

    versioned_plugin(plugin_dir, "routed", "after", version="1.0.1")
    async with session.post("/plugins/routed/reload", headers=AUTH) as response:
        body = await json_of(response)
    assert body == {"plugin": "routed", "version": "1.0.1", "reloaded": True, "changed": ["routed"], "problems": 0}
    async with session.post("/analyze/routed", json={"text": "x"}, headers=AUTH) as response:
        answer = await json_of(response)
    assert (answer["version"], answer["result"], answer["cached"]) == ("1.0.1", {"answer": "after"}, False)

    async with session.post("/plugins/routed/breaker/reset", headers=AUTH) as response:
        reset = await json_of(response)
    assert reset["plugin"] == "routed" and reset["breaker"]["state"] == "closed" and reset["state"] == "idle"
    async with session.post("/plugins/nope/reload", headers=AUTH) as response:
        error = await error_of(response, 404, "unknown_plugin")
    assert "known: routed" in error["message"]
    async with session.get("/openapi.json", headers=AUTH) as response:
        paths = (await json_of(response))["paths"]
    assert "post" in paths["/plugins/{id}/reload"] and "post" in paths["/plugins/{id}/breaker/reset"]


async def test_an_open_breaker_is_closed_through_the_route(serve, plugin_dir):
    versioned_plugin(plugin_dir, "flaky", "", crash=True)
    served = await serve(breaker_open_s=300.0)
    for _ in range(3):
        async with served.session.post("/analyze/flaky", json={"text": "x"}) as response:
            assert response.status == 502
    async with served.session.post("/analyze/flaky", json={"text": "x"}) as response:
        await error_of(response, 503, "breaker_open")
    versioned_plugin(plugin_dir, "flaky", "fixed")
    async with served.session.post("/plugins/flaky/breaker/reset") as response:
        assert (await json_of(response))["breaker"]["state"] == "closed"
    async with served.session.post("/analyze/flaky", json={"text": "x"}) as response:
        assert (await json_of(response))["result"] == {"answer": "fixed"}


# ---- a real `qualia serve --reload` and the CLI against it ------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **AUTH})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture
def served_with_reload(tmp_path: Path, plugin_dir: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    env.update(QUALIA_HOME=str(tmp_path / "home"), QUALIA_PLUGIN_PATH=str(plugin_dir), QUALIA_API_KEYS=KEY,
               QUALIA_ACCESS_LOG="0")
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([QUALIA, "serve", "--reload", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
    try:
        yield url, env, tmp_path / "serve.log"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_serve_reload_picks_up_a_saved_code_and_manifest_edit_within_two_seconds(served_with_reload, plugin_dir):
    versioned_plugin(plugin_dir, "watched", "first")
    url, env, log = served_with_reload
    # A new plugin folder in a QUALIA_PLUGIN_PATH folder is found by the watcher too.
    deadline = time.monotonic() + 5
    while "watched" not in {p["id"] for p in _call(url + "/plugins")["plugins"]}:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)
    assert _call(url + "/analyze/watched", "POST", {"text": "x"})["result"] == {"answer": "first"}

    versioned_plugin(plugin_dir, "watched", "second", version="1.1.0")
    saved = time.monotonic()
    while _call(url + "/plugins/watched")["version"] != "1.1.0":
        assert time.monotonic() - saved < 2.0, "not reloaded within 2 s of the save:\n" + log.read_text()
        time.sleep(0.02)
    answer = _call(url + "/analyze/watched", "POST", {"text": "x"})
    assert (answer["version"], answer["result"], answer["cached"]) == ("1.1.0", {"answer": "second"}, False)

    code = plugin_dir / "watched" / "plugin.py"  # a code-only edit, no version bump: never a stale result
    code.write_text(code.read_text().replace("'second'", "'third'"), encoding="utf-8")
    saved = time.monotonic()
    while _call(url + "/analyze/watched", "POST", {"text": "x"})["result"] != {"answer": "third"}:
        assert time.monotonic() - saved < 2.0, "code edit not picked up within 2 s:\n" + log.read_text()
        time.sleep(0.05)

    reload = subprocess.run([QUALIA, "plugins", "reload", "watched", "--url", url, "--api-key", KEY], env=env,
                            capture_output=True, text=True, timeout=60)
    assert reload.returncode == 0 and reload.stdout.strip() == "watched 1.1.0: unchanged", reload.stderr
    reset = subprocess.run([QUALIA, "plugins", "reset-breaker", "watched", "--url", url], capture_output=True,
                           text=True, timeout=60, env={**env, "QUALIA_API_KEY": KEY})
    assert reset.returncode == 0 and reset.stdout.strip() == "watched: breaker closed", reset.stderr
    refused = subprocess.run([QUALIA, "plugins", "reload", "watched", "--url", url], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "401" in refused.stderr
    unreachable = subprocess.run([QUALIA, "plugins", "reload", "watched", "--url", f"http://127.0.0.1:{_free_port()}"],
                                 env=env, capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1 and "cannot reach the server" in unreachable.stderr
