"""`POST /jobs` as multipart/form-data: many uploaded files become one job's documents.

Form fields: `pipeline` (a JSON pipeline) or `plugin` (+ `config`, JSON),
optional `callback_url` and `delivery_id`, and any number of file parts
named `file` (or `files`). Each file is read by the corpus engine's reader,
as `qualia batch` reads it; a file that cannot become a document rejects
the request (415/422) naming the file, before anything is queued. The whole
body counts against QUALIA_MAX_UPLOAD_BYTES as it streams, and must arrive
within QUALIA_BODY_TIMEOUT_S (408), like every other body.
"""
from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from ..corpus.reading import read_bytes
from ..errors import InvalidRequest
from ..jobs import JobRequest
from .bodies import body_deadline, check_length, form_json, form_text, multipart_parts
from .routes_analysis import safe_filename
from .state import SETTINGS

__all__ = ["FILE_FIELDS", "FORM_FIELDS", "read_job_form"]

FILE_FIELDS = frozenset({"file", "files"})
FORM_FIELDS = frozenset({"pipeline", "plugin", "config", "callback_url", "delivery_id"})


async def read_job_form(request: web.Request) -> JobRequest:
    max_depth = request.app[SETTINGS].max_json_depth
    check_length(request)
    fields: dict[str, str] = {}
    documents: list[dict[str, Any]] = []
    async with body_deadline(request):
        async for part, data in multipart_parts(request):
            if part.name in FILE_FIELDS:
                name = safe_filename(part.filename or "") or f"upload-{len(documents) + 1}"
                for document in read_bytes(data, name, label=name):
                    documents.append({"document": msgspec.to_builtins(document)})
            elif part.name in FORM_FIELDS:
                fields[part.name] = form_text(part, data)
            else:
                raise InvalidRequest(f"unknown form field {part.name!r}; known: {sorted(FORM_FIELDS)} and file "
                                     f"parts named 'file'", field=part.name or "")
    if not documents:
        raise InvalidRequest("no file: send each document as a 'file' part of the form", field="file")
    config = form_json(fields, "config", None, max_depth=max_depth)
    if config is not None and not isinstance(config, dict):
        raise InvalidRequest("form field 'config' must be a JSON object", field="config")
    return JobRequest(pipeline=form_json(fields, "pipeline", None, max_depth=max_depth),
                      plugin=fields.get("plugin") or None, config=config, documents=documents,
                      callback_url=fields.get("callback_url") or None, delivery_id=fields.get("delivery_id") or None)

