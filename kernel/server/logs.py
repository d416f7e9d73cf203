"""Named loggers of the front, the request id, and how log lines carry it.

Every request gets an id: the client's `X-Request-ID` when it is sane, else a
new one. It is kept in a context variable for the request's task, so any log
line written while the request is handled (the kernel's and the supervisor's
too) carries it once `RequestIdFilter` sits on the handler; it is echoed in
the response header (for streamed answers too, through `on_response_prepare`)
and passed to the kernel, which hands it to the plugin.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

server_log = logging.getLogger("qualia.server")
access_log = logging.getLogger("qualia.access")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID: ContextVar[str] = ContextVar("qualia_request_id", default="-")
REQUEST_ID_KEY = web.RequestKey("qualia_request_id", str)
# Letters, digits and a few separators, at most 128: safe in a header and a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def new_request_id() -> str:
    return os.urandom(8).hex()


def sane_request_id(value: str | None) -> str | None:
    """`value` if a client-sent id can be echoed as it is, else None."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str:
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute (the current request's, or `-`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: pick the id and expose it to handlers (`request[REQUEST_ID_KEY]`) and logs."""
    request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
    request[REQUEST_ID_KEY] = request_id
    token = REQUEST_ID.set(request_id)
    try:
        return await handler(request)
    finally:
        REQUEST_ID.reset(token)


async def echo_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: every answer, streamed ones (SSE) included, carries the id."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


# Query parameters whose values are secrets (the dashboard's `?key=` API key): never logged.
_SECRET_QUERY = re.compile(r"(?i)((?:^|&)(?:key|api_key|access_token|token)=)[^&]*")


def loggable_path(request: web.BaseRequest) -> str:
    """The path and query as sent, with secret query values (`key=`) replaced by `***`."""
    url = request.rel_url
    query = url.raw_query_string
    if not query:
        return url.raw_path
    return url.raw_path + "?" + _SECRET_QUERY.sub(r"\1***", query)


class AccessLogger(AbstractAccessLogger):
    """One line per request, carrying the request id like every other line.

    The line is written after the handler returned (outside the request's
    context), so the id is taken from the response header. Secret query
    values (`?key=`) are masked.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %d %.6fs "%s"', request.remote, request.method,
                         loggable_path(request), request.version.major, request.version.minor, response.status,
                         response.body_length, time, request.headers.get("User-Agent", "-"),
                         extra={"request_id": response.headers.get(REQUEST_ID_HEADER, "-")})


def configure_logging(level: str | int | None = None) -> None:
    """Log to stderr with the request id on every line (used by `serve_main`).

    The level comes from `level`, else `QUALIA_LOG_LEVEL`, else INFO.
    """
    level = level or os.environ.get("QUALIA_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
