"""The one place where failures become HTTP answers.

Every error leaves the front as `{"error": {"code", "message", "details"}}`:
a `QualiaError` with its own status and code, aiohttp's own HTTP exceptions
(no route 404, 405 with `Allow`, 413), a stray timeout as 504, and anything
unexpected as a logged 500 with the same JSON body (never a traceback).
Cancellation is not an error: it propagates so the kernel cancels the
plugin's work. Every 5xx answer is also told to the app's error reporters
(`state.ErrorReporter`, e.g. Sentry from `ops/`), so the kernel never imports
a reporting service itself.
"""
from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import BreakerOpen, PluginBusy, QualiaError, RateLimited, RequestTimeout, Unavailable
from .logs import current_request_id, server_log
from .schemas import ErrorBody, ErrorDetail
from .state import ERROR_REPORTERS, SETTINGS

JSON_CONTENT_TYPE = "application/json"
STDERR_TAIL_LINES = 20

# Anything a plugin or the kernel put in `details` is encoded, whatever its type.
_ENCODER = msgspec.json.Encoder(enc_hook=str)

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details or {}))
    try:
        payload = _ENCODER.encode(body)
    except (TypeError, ValueError, OverflowError):  # details that cannot be JSON at all
        body.error.details = {"unencodable": True}
        payload = _ENCODER.encode(body)
    return web.Response(body=payload, status=status, headers=headers, content_type=JSON_CONTENT_TYPE)


def qualia_error_response(exc: QualiaError) -> web.Response:
    details = dict(exc.details)
    tail = details.get("stderr_tail")
    if isinstance(tail, list) and len(tail) > STDERR_TAIL_LINES:
        details["stderr_tail"] = tail[-STDERR_TAIL_LINES:]
    headers = None
    if isinstance(exc, (Unavailable, RateLimited)):
        retry = details.get("retry_after_s")
        if isinstance(exc, (BreakerOpen, PluginBusy)) or retry is not None:
            seconds = retry if isinstance(retry, (int, float)) and math.isfinite(retry) else 1
            headers = {"Retry-After": str(max(1, math.ceil(seconds)))}
    return error_response(exc.status, exc.code, exc.message, details, headers)


def http_exception_response(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (router, body size) in the JSON shape, keeping their headers."""
    status = exc.status
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        headers["Allow"] = ", ".join(allowed)
        details["allowed"] = allowed
        message = f"method {request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}"
    elif isinstance(exc, web.HTTPNotFound) and (not exc.text or exc.text.startswith("404:")):
        message = f"no route for {request.method} {request.path}"  # the router's, not a handler's
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        settings = request.app.get(SETTINGS)
        limit = settings.max_upload_bytes if settings is not None else None
        details["max_bytes"] = limit
        message = f"the request body is larger than the limit of {limit} bytes (QUALIA_MAX_UPLOAD_BYTES)"
    else:
        message = exc.text if exc.text and not exc.text.startswith(f"{status}:") else exc.reason
    if "Retry-After" in exc.headers:
        headers["Retry-After"] = exc.headers["Retry-After"]
    return error_response(status, _HTTP_CODES.get(status, f"http_{status}"), message, details, headers or None)


def report_error(request: web.Request, exc: BaseException, status: int) -> None:
    """Tell the app's error reporters about a 5xx answer; a failing reporter is logged, never raised."""
    reporters = request.app.get(ERROR_REPORTERS)
    if not reporters:
        return
    for reporter in reporters:
        try:
            reporter.report(request, exc, status)
        except Exception:
            server_log.exception("error reporter %r failed", reporter)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except QualiaError as exc:
        if exc.status >= 500:
            server_log.warning("%s %s -> %d %s: %s", request.method, request.path, exc.status, exc.code,
                               exc.message)
            report_error(request, exc, exc.status)
        response = qualia_error_response(exc)
        if isinstance(exc, RequestTimeout):  # the rest of the body may never come: do not wait to read it
            response.force_close()
            close = getattr(request.protocol, "close_after_answer", None)  # protocol.GuardedRequestHandler
            if close is not None:
                close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects are answers, not errors
        if exc.status >= 500:
            report_error(request, exc, exc.status)
        return http_exception_response(request, exc)
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client is gone: nothing to answer, and cancellation must reach the kernel
    except TimeoutError as exc:
        server_log.warning("%s %s timed out", request.method, request.path, exc_info=True)
        report_error(request, exc, 504)
        return error_response(504, "timeout", "the request timed out", {})
    except Exception as exc:
        server_log.exception("unexpected error in %s %s", request.method, request.path)
        report_error(request, exc, 500)
        request_id = current_request_id()
        return error_response(500, "internal_error",
                              f"internal server error; the server log has the details (request id {request_id})",
                              {"request_id": request_id})


_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`")
_BYTE = re.compile(r"\(byte (\d+)\)")


def validation_field(exc: msgspec.ValidationError, prefix: str = "$") -> str:
    """The JSON path msgspec names in a validation message (`$.config`), `$` if none."""
    text = str(exc)
    unknown = _UNKNOWN_FIELD.match(text)
    match = _AT_PATH.search(text)
    path = match.group(1) if match else "$"
    if unknown:
        path = f"{path}.{unknown.group(1)}"
    return prefix + path[1:]


def decode_position(body: bytes, exc: msgspec.DecodeError) -> dict[str, int]:
    """Byte offset, line and column (1-based) of a JSON syntax error, when msgspec says where."""
    match = _BYTE.search(str(exc))
    offset = int(match.group(1)) if match else len(body)
    before = body[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return {"byte": offset, "line": line, "column": column}
