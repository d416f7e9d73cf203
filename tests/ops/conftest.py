"""Fixtures of the ops add-on tests: the real server of the HTTP tests, and a local fake Sentry."""
from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from typing import Any, AsyncIterator

import msgspec
import pytest
from aiohttp import web

from tests.kernel.server.conftest import error_of, json_of, serve  # noqa: F401  (fixtures and helpers)


class FakeSentry:
    """A server on 127.0.0.1 that takes Sentry envelopes (POST /api/<project>/envelope/) and decodes them."""

    def __init__(self) -> None:
        self.envelopes: list[list[tuple[dict[str, Any], Any]]] = []  # per envelope: (item header, payload)
        self.encodings: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def dsn(self) -> str:
        return self.url.replace("http://", "http://public@") + "/1"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [payload for items in self.envelopes for header, payload in items if header.get("type") == "event"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{project}/envelope/", self._envelope)
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)  # we decompress: as sent
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _envelope(self, request: web.Request) -> web.Response:
        raw = await request.read()
        encoding = request.headers.get("Content-Encoding", "identity").lower()
        self.encodings.append(encoding)
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding == "br":
            import brotli  # only sent when the sender has it, so the receiver has it too

            raw = brotli.decompress(raw)
        self.envelopes.append(decode_envelope(raw))
        return web.json_response({"id": "0" * 32})

    async def wait_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"fake Sentry got {len(self.events)} events, expected {count}"
            await asyncio.sleep(0.02)
        return self.events


def decode_envelope(raw: bytes) -> list[tuple[dict[str, Any], Any]]:
    """Newline-delimited: the envelope header, then per item its header and payload (`length` bytes if given)."""
    _, _, rest = raw.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        length = header.get("length")
        if length is not None:
            payload_bytes, rest = rest[:length], rest[length:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload_bytes, _, rest = rest.partition(b"\n")
        try:
            payload: Any = msgspec.json.decode(payload_bytes)
        except msgspec.DecodeError:
            payload = payload_bytes
        items.append((header, payload))
    return items


@pytest.fixture
async def fake_sentry(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSentry]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = FakeSentry()
    await server.start()
    yield server
    await server.stop()
