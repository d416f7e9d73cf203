"""The connection layer under the app: aiohttp's `RequestHandler` with bounds and quiet edges.

aiohttp parses requests in its `RequestHandler` (one per connection), below any
middleware. `GuardedRequestHandler` adds what the front needs there:

- **A header timeout.** From the moment a connection opens, or the first byte of
  its next request arrives, the request line and headers must be complete within
  `header_timeout_s`, else the connection is closed: a client trickling half a
  request line cannot hold a connection (and its memory) forever. Once the
  headers are in, the request runs as long as it needs; idle keep-alive
  connections close after `keepalive_timeout_s` (aiohttp's own timer).
- **A share per client address.** At most `max_connections_per_client` open
  connections per remote address; a connection beyond it is answered 503
  (`too_many_connections`, `Retry-After`) and closed before anything is parsed.
- **Malformed requests** (bare LF line endings, control characters in a header,
  an over-long line): aiohttp logs these at ERROR with a traceback quoting the
  raw request bytes, `Authorization` header included. Here they are one WARNING
  line that names the kind of error but never quotes the request, and the
  client gets the one JSON error shape (400 `malformed_request`).
- **Clients that go away** while an answer is written (a closed browser tab, a
  half-closed socket) are normal: logged at DEBUG, never as an error.

The request body has its own deadline (`bodies.py`), as it is read by handlers.
`GuardedSite` listens like aiohttp's `TCPSite`, with these handlers.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Callable

from aiohttp import web
from aiohttp.http_exceptions import (BadHttpMessage, BadHttpMethod, BadStatusLine, HttpProcessingError,
                                     InvalidHeader, LineTooLong, PayloadEncodingError)

from ..errors import MalformedRequest, TooManyConnections
from .errors import error_response
from .logs import REQUEST_ID_HEADER, new_request_id

__all__ = ["ClientConnections", "GuardedRequestHandler", "GuardedSite", "describe_bad_request"]

log = logging.getLogger("qualia.server.connections")

LINGER_S = 1.0
"""A refused connection is closed this long after its 503 (or when the client closes first), so
the client reads the answer instead of a reset caused by its own unread request bytes."""

# What each kind of parser error means, most specific first; never the parser's own message,
# which quotes the request bytes (headers and keys included).
_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (BadHttpMethod, "the request method is not valid"),
    (BadStatusLine, "the request line is malformed"),
    (LineTooLong, "a request line or header is too long"),
    (InvalidHeader, "a header is malformed"),
    (PayloadEncodingError, "the body's framing or encoding is invalid"),
    (BadHttpMessage, "the request is malformed"),
)
# llhttp's messages read "<reason>:\n\n  b'<the bytes>'\n  ^": the reason is fixed text of the parser.
_LLHTTP_BYTES = re.compile(r"\n\n  b['\"]")
_REASON = re.compile(r"[A-Za-z]{1,20}(?: [A-Za-z]{1,20}){0,7}")


def describe_bad_request(exc: BaseException) -> str:
    """What is wrong with a request the parser refused, in words that never quote the request."""
    kind = next((text for cls, text in _KINDS if isinstance(exc, cls)), "the request is malformed")
    message = getattr(exc, "message", "")
    if isinstance(message, str) and _LLHTTP_BYTES.search(message):
        head = message[:_LLHTTP_BYTES.search(message).start()]  # type: ignore[union-attr]
        reason = head.rsplit("\n", 1)[-1].strip().rstrip(":")
        if _REASON.fullmatch(reason):
            return f"{kind} ({reason})"
    return kind


class ClientConnections:
    """Open connections per client address, at most `limit` each (0: no limit)."""

    __slots__ = ("limit", "_open", "_refusing", "refused")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}
        self._refusing: set[str] = set()  # addresses at their limit, told once in the log
        self.refused: set[asyncio.BaseTransport] = set()  # answered 503, closing after LINGER_S

    def admit(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if self.limit and count >= self.limit:
            if address not in self._refusing:
                self._refusing.add(address)
                log.warning("client %s has %d open connections, the limit (QUALIA_MAX_CONNECTIONS_PER_CLIENT): "
                            "refusing more until some close", address, count)
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)
        if self.limit and count < self.limit:
            self._refusing.discard(address)

    def count(self, address: str) -> int:
        return self._open.get(address, 0)


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, with a header timeout, a per-address share and quiet edges."""

    def __init__(self, manager: Any, *, loop: asyncio.AbstractEventLoop, connections: ClientConnections,
                 header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._event_loop = loop
        self._connections = connections
        self._header_timeout = header_timeout_s
        self._address: str | None = None  # set once admitted
        self._refused = False
        self._busy = False  # a request's headers are in and it is being handled
        self._close_after_answer = False
        self._header_deadline: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    # ---- connections -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        if not self._connections.admit(address):
            self._refuse(transport, address)
            return
        self._address = address
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is not None:
            self._connections.release(self._address)
            self._address = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _refuse(self, transport: asyncio.BaseTransport, address: str) -> None:
        """Answer 503 without reading the request; close once the client has had time to read it."""
        self._refused = True
        self._header_deadline = None
        limit = self._connections.limit
        request_id = new_request_id()
        response = error_response(
            TooManyConnections.status, TooManyConnections.code,
            f"too many open connections from {address or 'this client'} (the limit is {limit}, "
            f"QUALIA_MAX_CONNECTIONS_PER_CLIENT); close some and retry", {"limit": limit})
        body = response.body
        assert isinstance(body, bytes)
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n"
                f"{REQUEST_ID_HEADER}: {request_id}\r\n\r\n").encode("ascii")
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(head + body)
        if transport.can_write_eof():
            transport.write_eof()
        refused = self._connections.refused
        refused.add(transport)

        def close() -> None:
            refused.discard(transport)
            transport.close()

        self._event_loop.call_later(LINGER_S, close)

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and not self._busy:  # the first byte of the next request
            if self._refused:
                return  # the request of a refused connection is never parsed
            self._header_deadline = self._event_loop.time() + self._header_timeout
            if self._header_timer is None:
                self._header_timer = self._event_loop.call_at(self._header_deadline, self._header_deadline_passed)
        super().data_received(data)

    # ---- the header deadline -------------------------------------------------------------

    def log_access(self, request: web.BaseRequest, response: web.StreamResponse, time: float | None) -> None:
        """aiohttp calls this once an answer is written: the connection waits for its next request."""
        self._busy = False
        super().log_access(request, response, time)
        if self._close_after_answer:  # e.g. the body stopped coming: close now rather than linger for the rest
            self.force_close()

    def close_after_answer(self) -> None:
        """Close the connection as soon as the current answer is written (without reading what is left)."""
        self._close_after_answer = True

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self._event_loop.time() + self._header_timeout
        if self._header_timer is None:
            self._header_timer = self._event_loop.call_at(self._header_deadline, self._header_deadline_passed)

    def _header_deadline_passed(self) -> None:
        """One timer per connection, moved on lazily (no timer churn per request)."""
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None or self._busy or self.transport is None:
            return
        if self._event_loop.time() < deadline:
            self._header_timer = self._event_loop.call_at(deadline, self._header_deadline_passed)
            return
        log.debug("closing a connection from %s: no complete request headers within %g s", self._address,
                  self._header_timeout)
        self.force_close()

    # ---- errors below the app ------------------------------------------------------------

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):  # the client went away while its answer was written
            log.debug("client %s went away during %s %s: %s", request.remote, request.method, request.path, exc)
            raise exc
        if isinstance(exc, HttpProcessingError):
            return self._malformed(request, status, exc)
        return super().handle_error(request, status, exc, message)

    def _malformed(self, request: web.BaseRequest, status: int, exc: HttpProcessingError) -> web.StreamResponse:
        request_id = new_request_id()
        what = describe_bad_request(exc)
        # Random bytes on the port (a TLS handshake, a scanner) open with a bad method: aiohttp keeps
        # those at DEBUG too, as they are noise on a public address.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
        log.log(level, "malformed HTTP request from %s: %s; answered %d and closed the connection",
                request.remote, what, status, extra={"request_id": request_id})
        response = error_response(status, MalformedRequest.code, f"malformed HTTP request: {what}", {},
                                  headers={REQUEST_ID_HEADER: request_id})
        response.force_close()
        return response


RequestFactory = Callable[..., web.BaseRequest]


class GuardedSite(web.BaseSite):
    """A TCP site (like aiohttp's `TCPSite`) whose connections are `GuardedRequestHandler`s."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, header_timeout_s: float,
                 max_connections_per_client: int, handler_options: dict[str, Any],
                 ssl_context: Any = None, backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.runner = runner
        self.host = host
        self.port = port
        self.connections = ClientConnections(max_connections_per_client)
        self._header_timeout = header_timeout_s
        self._handler_options = handler_options

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self.runner.server
        assert server is not None, "set the runner up first"
        make_request: RequestFactory = server.request_factory
        if not getattr(make_request, "tells_the_protocol", False):  # once per server, however many sites

            def request_factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
                # The request line and headers are in: the header deadline no longer applies (inlined: per request).
                protocol._busy = True
                protocol._header_deadline = None
                return make_request(message, payload, protocol, writer, task)

            request_factory.tells_the_protocol = True  # type: ignore[attr-defined]
            server.request_factory = request_factory  # read by each handler as it is made

        def handler() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, loop=loop, connections=self.connections,
                                         header_timeout_s=self._header_timeout, **self._handler_options)

        self._server = await loop.create_server(handler, self.host, self.port, ssl=self._ssl_context,
                                                backlog=self._backlog)

    async def stop(self) -> None:
        await super().stop()
        for transport in list(self.connections.refused):  # refused connections still lingering
            transport.close()
        self.connections.refused.clear()
