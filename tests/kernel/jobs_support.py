"""Helpers for the job and webhook tests: a slow/failing plugin, a callback receiver, waiting on jobs."""
from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import write_plugin

# A plugin in plain Python: sleeps `delay` seconds per run, then echoes the text
# and appends it to runs.log (in its folder); "fail…" answers -32602, "crash" dies.
SLOW_PLUGIN = textwrap.dedent("""\
    import json, os, sys, time

    def send(message):
        sys.stdout.write(json.dumps(message) + "\\n")
        sys.stdout.flush()

    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            if method == "exit":
                sys.exit(0)
            continue
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": request_id, "result": {
                "protocol": "qualia/1", "id": os.environ["QUALIA_PLUGIN_ID"], "version": "1.0.0"}})
        elif method == "shutdown":
            send({"jsonrpc": "2.0", "id": request_id, "result": None})
        else:
            params = message["params"]
            text = params["document"]["text"]
            time.sleep(params["config"].get("delay", 0))
            if text.startswith("fail"):
                send({"jsonrpc": "2.0", "id": request_id,
                      "error": {"code": -32602, "message": "cannot use this text: " + text}})
                continue
            if text == "crash":
                os._exit(3)
            with open("runs.log", "a", encoding="utf-8") as log:
                log.write(text + "\\n")
            send({"jsonrpc": "2.0", "id": request_id, "result": {"result": {"echo": text, "length": len(text)}}})
    """)

SLOW_PARAMETERS = textwrap.dedent("""
    [parameters.delay]
    type = "number"
    default = 0
    min = 0
    max = 120
    """)


def slow_plugin(root: Path, plugin_id: str = "slow", *, timeout_s: float = 30) -> Path:
    """A plugin folder whose runs take `config.delay` seconds; returns the folder (runs.log lands there)."""
    script = root / f"{plugin_id}_plugin.py"
    script.write_text(SLOW_PLUGIN, encoding="utf-8")
    return write_plugin(root, plugin_id, ["{python}", str(script)], timeout_s=timeout_s, extra=SLOW_PARAMETERS)


def runs(folder: Path) -> list[str]:
    log = folder / "runs.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


class Receiver:
    """A callback receiver on 127.0.0.1: answers 500 to the first `failures` requests, then 200."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.delivered = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), dict(request.headers), await request.read()))
        if len(self.requests) <= self.failures:
            return web.Response(status=500, text="receiver is down")
        self.delivered.set()
        return web.Response(status=204)

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `predicate()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await asyncio.sleep(interval)


async def wait_job(session: aiohttp.ClientSession, job_id: str, *, states: tuple[str, ...] = (
        "succeeded", "failed", "cancelled"), timeout: float = 15.0) -> dict[str, Any]:
    """GET /jobs/{id} until its state is one of `states`; the job's JSON."""
    async def probe() -> dict[str, Any] | None:
        async with session.get(f"/jobs/{job_id}") as response:
            assert response.status == 200, await response.text()
            job = await response.json()
        return job if job["state"] in states else None

    return await wait_for(probe, timeout=timeout, interval=0.05)
