"""A real server on 127.0.0.1 (a free port) in front of a kernel with fast timings.

`serve(...)` starts one: by default with only the test's own plugins (from
`plugin_dir`), `bundled=True` adds the bundled ones. Every server is shut
down after the test, which then checks that no plugin process was left.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import msgspec
import pytest
from aiohttp import web

from qualia.kernel import Kernel, Settings
from qualia.kernel.registry import BUNDLED_PLUGINS, Registry
from qualia.kernel.server import ServerSettings, create_app, start_server
from tests.conftest import live_children


class Served(msgspec.Struct, kw_only=True):
    url: str
    app: web.Application
    kernel: Kernel
    session: aiohttp.ClientSession
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.session.close()
        await self.runner.cleanup()


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(fast_settings: Settings) -> AsyncIterator[Serve]:
    servers: list[Served] = []
    before = {child.pid for child in live_children()}

    async def start(*, bundled: bool = False, setup: Callable[[web.Application], None] | None = None,
                    server: dict[str, object] | None = None, **overrides: object) -> Served:
        settings = Settings(**{**{f: getattr(fast_settings, f) for f in fast_settings.__struct_fields__},
                               **overrides})
        registry = Registry(settings.plugin_path, entry_points=False, bundled=BUNDLED_PLUGINS if bundled else None)
        kernel = Kernel(settings, registry=registry)
        app = create_app(kernel, settings=ServerSettings(**{"access_log": False, "shutdown_timeout_s": 5.0,
                                                            **(server or {})}))
        if setup is not None:
            setup(app)
        runner, url = await start_server(app, "127.0.0.1", 0)
        session = aiohttp.ClientSession(base_url=url, timeout=aiohttp.ClientTimeout(total=30))
        served = Served(url=url, app=app, kernel=kernel, session=session, runner=runner)
        servers.append(served)
        return served

    yield start  # type: ignore[misc]
    for served in servers:
        await served.stop()
    leftovers = [child for child in live_children() if child.pid not in before]
    assert not leftovers, f"plugin processes left behind: {leftovers}"


async def json_of(response: aiohttp.ClientResponse) -> dict:
    assert response.content_type == "application/json", (response.status, await response.text())
    return await response.json()


async def error_of(response: aiohttp.ClientResponse, status: int, code: str | None = None) -> dict:
    """The `error` object of a JSON error answer, after checking the status and the one shape."""
    body = await json_of(response)
    assert response.status == status, body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    assert response.headers.get("X-Request-ID")
    return error


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "transcripts"
