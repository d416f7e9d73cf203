"""`POST /jobs` as multipart/form-data: many uploaded files become one job's documents.

Form fields: `pipeline` (a JSON pipeline) or `plugin` (+ `config`, JSON),
optional `callback_url` and `delivery_id`, and any number of file parts
named `file` (or `files`). Each file is read by the corpus engine's reader,
as `qualia batch` reads it; a file that cannot become a document rejects
the request (415/422) naming the file, before anything is queued. The whole
body counts against QUALIA_MAX_UPLOAD_BYTES as it streams.
"""
from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from ..corpus.reading import read_bytes
from ..errors import InvalidRequest, MalformedBody, PayloadTooLarge
from ..jobs import JobRequest
from .bodies import form_json
from .routes_analysis import safe_filename
from .state import SETTINGS

__all__ = ["FILE_FIELDS", "FORM_FIELDS", "read_job_form"]

FILE_FIELDS = frozenset({"file", "files"})
FORM_FIELDS = frozenset({"pipeline", "plugin", "config", "callback_url", "delivery_id"})
_CHUNK = 1 << 16


async def read_job_form(request: web.Request) -> JobRequest:
    limit = request.app[SETTINGS].max_upload_bytes
    max_depth = request.app[SETTINGS].max_json_depth
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise MalformedBody(f"malformed multipart body: {exc}") from None
    received = 0
    fields: dict[str, str] = {}
    documents: list[dict[str, Any]] = []
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, BadHttpMessage) as exc:
            raise MalformedBody(f"malformed multipart body: {exc}") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise MalformedBody("nested multipart bodies are not supported")
        chunks: list[bytes] = []
        while chunk := await part.read_chunk(_CHUNK):
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        data = b"".join(chunks)
        if part.name in FILE_FIELDS:
            name = safe_filename(part.filename or "") or f"upload-{len(documents) + 1}"
            for document in read_bytes(data, name, label=name):
                documents.append({"document": msgspec.to_builtins(document)})
        elif part.name in FORM_FIELDS:
            try:
                fields[part.name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"form field {part.name!r} is not UTF-8 text", field=part.name) from None
        else:
            raise InvalidRequest(f"unknown form field {part.name!r}; known: {sorted(FORM_FIELDS)} and file parts "
                                 f"named 'file'", field=part.name or "")
    if not documents:
        raise InvalidRequest("no file: send each document as a 'file' part of the form", field="file")
    config = form_json(fields, "config", None, max_depth=max_depth)
    if config is not None and not isinstance(config, dict):
        raise InvalidRequest("form field 'config' must be a JSON object", field="config")
    return JobRequest(pipeline=form_json(fields, "pipeline", None, max_depth=max_depth),
                      plugin=fields.get("plugin") or None, config=config, documents=documents,
                      callback_url=fields.get("callback_url") or None, delivery_id=fields.get("delivery_id") or None)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes (QUALIA_MAX_UPLOAD_BYTES)",
                           max_bytes=limit)
