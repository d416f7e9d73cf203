"""The dashboard's routes: the page and its assets (GET /monitor) and its stream (GET /monitor/stream)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import sse
from ..openapi import API_DOC, ApiDoc
from ..stats import mark_streamed
from .hub import MONITOR, MonitorHub
from .snapshot import MonitorSettings, Probe

__all__ = ["MONITOR_CSP", "monitor_stream", "setup_monitor"]

ASSETS = Path(__file__).parent.parent / "assets"
# Only this server: scripts, styles and the stream; `data:` for the empty favicon (no /favicon.ico request).
MONITOR_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MONITOR_EVENTS = ("history", "snapshot", "plugin")


async def monitor_stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[MONITOR]
    subscriber = hub.subscribe()  # 503 while stopping, before the stream starts
    with subscriber:
        stream = sse.EventStream(request)
        greeting = hub.greeting()
        if hub.latest is not None:
            greeting += sse.event("snapshot", hub.latest)
        if not await stream.open(greeting):
            return stream.response
        mark_streamed(request, stream.response)
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + hub.settings.heartbeat_s
        while not stream.gone:
            chunk = await subscriber.next(max(0.0, next_beat - loop.time()))
            if chunk is None:  # the server is stopping
                break
            if chunk is not False:
                await stream.send(chunk)
            if loop.time() >= next_beat:
                await stream.send(sse.HEARTBEAT)
                next_beat = loop.time() + hub.settings.heartbeat_s
    return await stream.close()


def _asset(name: str, content_type: str) -> Any:
    data = (ASSETS / name).read_bytes()  # read once, when the app is set up
    headers = {"Content-Type": content_type, "Content-Security-Policy": MONITOR_CSP, "Cache-Control": "no-cache",
               "X-Content-Type-Options": "nosniff"}

    async def serve_asset(request: web.Request) -> web.Response:
        return web.Response(body=data, headers=headers)

    return serve_asset


def setup_monitor(app: web.Application, settings: MonitorSettings | None = None) -> MonitorHub:
    """Add /monitor, its assets and /monitor/stream; needs app[REQUEST_STATS] (create_app sets it)."""
    settings = settings or MonitorSettings()
    probe = Probe(app, settings)
    hub = MonitorHub(probe.take, settings, on_start=probe.restart)
    app[MONITOR] = hub
    app.on_shutdown.append(hub.close)
    app.router.add_get("/monitor", _asset("monitor.html", "text/html; charset=utf-8"))
    app.router.add_get("/monitor/monitor.js", _asset("monitor.js", "text/javascript; charset=utf-8"))
    app.router.add_get("/monitor/monitor.css", _asset("monitor.css", "text/css; charset=utf-8"))
    app.router.add_get("/monitor/stream", monitor_stream)
    doc = app.get(API_DOC)
    if doc is not None:
        describe(doc)
    return hub


def describe(doc: ApiDoc) -> None:
    doc.add("get", "/monitor", "monitor", tag="service", summary="Live dashboard",
            description="A self-contained page (HTML, Canvas and JavaScript served from this package, no external "
                        "asset) showing requests per minute, latency p50/p95, errors, each plugin's breaker, "
                        "processes, restarts, RSS and CPU, kernel and system resources, and jobs (each one's "
                        "documents done, failed and total, the step a plugin reports, and where jobs run: here or the "
                        "Dask cluster of `serve --cluster`, with its dashboard link), live from /monitor/stream. "
                        "With API keys on, open it as `/monitor?key=...`: the page passes the key "
                        "on to the stream (EventSource cannot send headers).",
            responses={200: {"text/html; charset=utf-8": {"schema": {"type": "string"}}}})
    doc.add("get", "/monitor/stream", "monitorStream", tag="service", summary="Dashboard data (SSE)",
            description="Server-Sent Events that never end on their own: `retry:`, then `history` (recent chart "
                        "points), `snapshot` every second (JSON: requests, latency, errors, plugins, kernel, "
                        "system, jobs, cache; `jobs.executor` says where jobs run, `jobs.jobs` lists the running and "
                        "queued jobs, then the latest finished, with their progress), `plugin` when a plugin changes "
                        "state, and `: heartbeat` comments. "
                        "The stream ends when the server shuts down; browsers reconnect by themselves.",
            responses={200: sse.event_stream_content(MONITOR_EVENTS)}, errors=(503,))

