"""Reading request bodies: JSON into typed Structs, multipart uploads into memory.

JSON routes need `Content-Type: application/json` (415 otherwise); the body
is limited by the app's `client_max_size` (413). Syntax errors are 400 with
the byte, line and column; type errors are 422 naming the JSON path.
Uploads are read part by part into memory with the same limit: a file never
touches the disk, and its client-given name is only kept as metadata. A body
must arrive whole within `body_timeout_s` (QUALIA_BODY_TIMEOUT_S): a client
that stops sending gets 408 and the connection is closed.
JSON may nest arrays and objects at most `max_json_depth` levels (64; 400
`json_too_deep` beyond): msgspec has no depth option and would recurse, so
the depth is checked on the bytes first, and only for a body with more
brackets than the limit (counting them is a C-speed scan).
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from itertools import accumulate
from typing import Any, AsyncIterator, TypeVar

import msgspec
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from ..errors import InvalidRequest, JsonTooDeep, MalformedBody, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from .errors import decode_position, validation_field
from .state import DEFAULT_MAX_JSON_DEPTH, SETTINGS

T = TypeVar("T")

_JSON_TYPES = frozenset({"application/json"})
_CHUNK = 1 << 16


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def json_depth(body: bytes | str) -> int:
    """How deep arrays and objects nest in a JSON text (0 for a scalar), by C-speed scans."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    # Backslashes only occur inside strings: drop escaped backslashes, then escaped quotes, and every
    # quote left delimits a string; the text between them (the even pieces) is outside the strings.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def too_deep(limit: int, what: str = "the JSON", **details: Any) -> JsonTooDeep:
    return JsonTooDeep(f"{what} nests arrays and objects deeper than the limit of {limit} levels "
                       f"(QUALIA_MAX_JSON_DEPTH)", max_depth=limit, **details)


def check_json_depth(body: bytes | str, limit: int = DEFAULT_MAX_JSON_DEPTH, what: str = "the JSON",
                     **details: Any) -> None:
    """Raise JsonTooDeep (400) if `body` nests deeper than `limit`; free for bodies with few brackets."""
    if isinstance(body, str):
        if body.count("[") + body.count("{") <= limit:
            return
    elif body.count(b"[") + body.count(b"{") <= limit:
        return
    if json_depth(body) > limit:
        raise too_deep(limit, what, **details)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes (QUALIA_MAX_UPLOAD_BYTES)",
                           max_bytes=limit)


def check_length(request: web.Request) -> None:
    """413 at once when the declared Content-Length is over QUALIA_MAX_UPLOAD_BYTES."""
    limit = request.app[SETTINGS].max_upload_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)


@asynccontextmanager
async def body_deadline(request: web.Request) -> AsyncIterator[None]:
    """The body must be read within QUALIA_BODY_TIMEOUT_S: 408 otherwise."""
    limit = request.app[SETTINGS].body_timeout_s
    try:
        async with asyncio.timeout(limit):
            yield
    except TimeoutError:
        raise _body_timeout(limit) from None


def _body_timeout(limit: float) -> RequestTimeout:
    return RequestTimeout(f"the request body did not arrive within {limit:g} s (QUALIA_BODY_TIMEOUT_S)",
                          timeout_s=limit)


async def read_body(request: web.Request) -> bytes:
    """The whole body (bounded by the app's client_max_size: 413), within the body deadline."""
    if request.content.is_eof():  # all there already (a small body comes with the headers): no timer needed
        return await request.read()
    limit = request.app[SETTINGS].body_timeout_s
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        raise _body_timeout(limit) from None


async def read_json(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    content_type = request.content_type
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"{request.method} {request.path} takes a JSON body: send Content-Type: "
                                   f"application/json (got {content_type or 'none'!r})",
                                   expected="application/json", got=content_type)
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"JSON bodies must be UTF-8 (got charset {charset!r})", got=charset)
    check_length(request)
    # All there already (a small body comes with the headers): no deadline to keep.
    body = await request.read() if request.content.is_eof() else await read_body(request)
    if not body.strip():
        raise MalformedBody("the request body is empty: send a JSON object", **{"byte": 0, "line": 1, "column": 1})
    limit = request.app[SETTINGS].max_json_depth
    check_json_depth(body, limit, "the JSON body")
    try:
        return decoder.decode(body)
    except RecursionError:  # only if the check above was fooled (it is not, for valid JSON)
        raise too_deep(limit, "the JSON body") from None
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: test it first
        field = validation_field(exc)
        raise InvalidRequest(f"invalid request body: {exc}", field=field) from None
    except msgspec.DecodeError as exc:
        where = decode_position(body, exc)
        raise MalformedBody(f"malformed JSON at line {where['line']}, column {where['column']} "
                            f"(byte {where['byte']}): {exc}", **where) from None


class Upload(msgspec.Struct, kw_only=True):
    """A multipart form: the one file, and the other fields as text."""

    filename: str
    content_type: str | None
    data: bytes
    fields: dict[str, str]


async def read_upload(request: web.Request, file_field: str = "file") -> Upload:
    """Read a multipart/form-data body into memory, enforcing the size limit as it streams."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(f"{request.method} {request.path} takes multipart/form-data with a "
                                   f"{file_field!r} part (got {request.content_type or 'none'!r})",
                                   expected="multipart/form-data", got=request.content_type)
    check_length(request)
    async with body_deadline(request):
        return await _read_parts(request, file_field)


async def multipart_parts(request: web.Request) -> AsyncIterator[tuple[BodyPartReader, bytes]]:
    """Each part of a multipart body with its bytes; QUALIA_MAX_UPLOAD_BYTES counts the whole body as it
    streams, and a malformed or nested body is a 400 naming the problem."""
    limit = request.app[SETTINGS].max_upload_bytes
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise MalformedBody(f"malformed multipart body: {exc}") from None
    received = 0
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, BadHttpMessage) as exc:  # BadHttpMessage: a part's header
            raise MalformedBody(f"malformed multipart body: {exc}") from None
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise MalformedBody("nested multipart bodies are not supported")
        chunks: list[bytes] = []
        while chunk := await part.read_chunk(_CHUNK):
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        yield part, b"".join(chunks)


def form_text(part: BodyPartReader, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"form field {part.name!r} is not UTF-8 text", field=part.name or "") from None


async def _read_parts(request: web.Request, file_field: str) -> Upload:
    upload: Upload | None = None
    fields: dict[str, str] = {}
    async for part, data in multipart_parts(request):
        if part.name == file_field:
            if upload is not None:
                raise InvalidRequest(f"send one file in the {file_field!r} part", field=file_field)
            upload = Upload(filename=part.filename or "", content_type=part.headers.get("Content-Type"),
                            data=data, fields=fields)
        elif part.name:
            fields[part.name] = form_text(part, data)
    if upload is None:
        raise InvalidRequest(f"no file: send the document as the {file_field!r} part of the form",
                             field=file_field)
    return upload


def form_json(fields: dict[str, str], name: str, default: Any, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """A form field holding JSON (e.g. `config`), or `default` when it is absent or empty."""
    text = fields.get(name, "").strip()
    if not text:
        return default
    check_json_depth(text, max_depth, f"form field {name!r}", field=name)
    try:
        return msgspec.json.decode(text)
    except RecursionError:
        raise too_deep(max_depth, f"form field {name!r}", field=name) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"form field {name!r} is not valid JSON: {exc}", field=name) from None


def form_bool(fields: dict[str, str], name: str, default: bool) -> bool:
    text = fields.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidRequest(f"form field {name!r} must be true or false, got {text!r}", field=name)
