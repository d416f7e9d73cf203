"""Server-Sent Events: one encoder and one stream writer for every event stream of the front.

The dashboard's `GET /monitor/stream` and a job's `GET /jobs/{id}/events`
both send named events whose data is one line of JSON (JSON never holds a raw
newline, so one `data:` line per event), a `retry:` hint first and `:`
comments as heartbeats. `EventStream` prepares the answer with the headers
an event stream needs (no caching, no proxy buffering) and writes chunks; a
client that goes away (a closed tab, a half-closed socket) is normal: the
stream notes it, logs one DEBUG line and every later write is a no-op, so the
route simply ends. `event_stream_content` describes a stream in the OpenAPI
document the way a reader (schemathesis, a browser's EventSource) sees it:
one object per event.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import msgspec
from aiohttp import web

__all__ = ["HEARTBEAT", "EventStream", "comment", "event", "event_stream_content", "retry"]

log = logging.getLogger("qualia.server.sse")

_ENCODER = msgspec.json.Encoder(enc_hook=str)  # job errors' details may hold paths and the like

HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Any) -> bytes:
    """One named event with JSON data (bytes are taken as JSON already encoded)."""
    payload = data if isinstance(data, bytes) else _ENCODER.encode(data)
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def retry(milliseconds: int) -> bytes:
    """The reconnection delay a client should use (EventSource's `retry:` field)."""
    return b"retry: %d\n\n" % milliseconds


def comment(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


HEARTBEAT = comment("heartbeat")


class EventStream:
    """A `text/event-stream` answer that tolerates its client leaving at any point."""

    def __init__(self, request: web.Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.response = web.StreamResponse(headers={**HEADERS, **(headers or {})})
        self.gone = False

    async def open(self, first: bytes = b"") -> bool:
        """Send the headers (and `first`, if given); False if the client is already gone."""
        try:
            await self.response.prepare(self.request)
        except ConnectionError as exc:
            self._left(exc)
            return False
        return await self.send(first) if first else True

    async def send(self, chunk: bytes) -> bool:
        """Write one chunk; False once the client has gone (nothing is written then)."""
        if self.gone:
            return False
        try:
            await self.response.write(chunk)
        except ConnectionError as exc:
            self._left(exc)
            return False
        return True

    async def close(self) -> web.StreamResponse:
        """End the stream (a no-op for a client that left); the route returns what this returns."""
        if not self.gone:
            try:
                await self.response.write_eof()
            except ConnectionError as exc:
                self._left(exc)
        return self.response

    def _left(self, exc: BaseException) -> None:
        self.gone = True
        log.debug("client of %s %s went away: %s", self.request.method, self.request.path, exc)


def event_stream_content(events: Iterable[str], description: str = "") -> dict[str, Any]:
    """The OpenAPI `content` of an event stream: one object per event, its data a JSON text."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": list(events)},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    if description:
        schema["description"] = description
    return {"text/event-stream": {"schema": schema}}
