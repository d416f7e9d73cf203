"""POST /analyze/{id}, POST /analyze/{id}/file and POST /process/{id}.

Analyzers answer `{"plugin", "version", "cached", "result"}`; document plugins
`{"plugin", "version", "cached", "document"}`. A transcript (WebVTT, SRT, a
Teams export, `[hh:mm:ss] Name:` chat lines, ...) is cleaned before an
analyzer sees it, with the cleaning settings of the pipelines; `raw` opts out
and `clean` forces cleaning of any text. The upload route takes a multipart
form: the `file` part, read by `kernel.readers` (text in any common encoding,
PDF, .docx, .vtt, .srt, .md, a CSV of survey answers: one document per row,
the answer in the column `text_column`) and optional fields `config`,
`inputs`, `configs` (JSON), `cache`, `clean`, `raw` (true/false),
`text_column` and `language` (pt, en, auto). A file that cannot be read is
415 (binary, unknown encoding), 413 (an archive that inflates too far) or 422
(empty, a PDF without text, a broken file), naming the file and the reason.
A CSV answers `{"plugin", "version", "documents": [{"id", "cached", "result",
"metadata"}]}`, one entry per row.
"""
from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, get_args
from urllib.parse import unquote

from aiohttp import web

from qualia.plugin_sdk.document import Language
from qualia.plugin_sdk.manifest import Manifest

from ..analysis import StepResult
from ..errors import InvalidRequest
from ..readers import read_bytes
from .bodies import form_bool, form_json, read_json, read_upload
from .logs import REQUEST_ID_KEY
from .openapi import API_DOC, ApiDoc
from .running import clean_option, plugin_of_kind, request_document, run_target
from .schemas import (RUN_DECODER, AnalyzeResponse, AnalyzeRowsResponse, ProcessResponse, RowResult, RunRequest,
                      json_response)
from .state import KERNEL, SETTINGS

UPLOAD_FIELDS = frozenset({"config", "inputs", "configs", "cache", "clean", "raw", "language", "text_column"})
_LANGUAGES = get_args(Language)


async def _run_from_json(request: web.Request, kind: str) -> tuple[Manifest, StepResult]:
    """The shared body of /analyze and /process: a JSON run request on a plugin of `kind`."""
    kernel = request.app[KERNEL]
    manifest = plugin_of_kind(kernel, request.match_info["id"], kind)
    body = await read_json(request, RUN_DECODER)
    document = request_document(body.text, body.document)
    clean = clean_option(body.clean, body.raw)
    if kind == "document" and clean is None:
        clean = False  # a document plugin gets the text as sent unless `clean` asks
    step = await run_target(kernel, manifest, document, body.config, body.inputs, use_cache=body.cache,
                            clean=clean, configs=body.configs, request_id=request[REQUEST_ID_KEY])
    return manifest, step


async def analyze(request: web.Request) -> web.Response:
    manifest, step = await _run_from_json(request, "analyzer")
    assert step.result is not None
    return json_response(AnalyzeResponse(plugin=manifest.id, version=manifest.version, cached=step.cached,
                                         result=step.result))


async def process(request: web.Request) -> web.Response:
    manifest, step = await _run_from_json(request, "document")
    assert step.document is not None
    return json_response(ProcessResponse(plugin=manifest.id, version=manifest.version, cached=step.cached,
                                         document=step.document))


def safe_filename(name: str) -> str:
    """The last component of a client-given name, without control characters: metadata only.

    Some clients percent-encode the name (aiohttp sends `..%2Fa.txt`): it is decoded first.
    """
    base = PureWindowsPath(PurePosixPath(unquote(name)).name).name
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return "" if cleaned in (".", "..") else cleaned[:255]


def _object_field(fields: dict[str, str], name: str, max_depth: int) -> dict[str, Any]:
    value = form_json(fields, name, {}, max_depth=max_depth)
    if not isinstance(value, dict):
        raise InvalidRequest(f"form field {name!r} must be a JSON object", field=name)
    return value


async def analyze_file(request: web.Request) -> web.Response:
    kernel = request.app[KERNEL]
    manifest = plugin_of_kind(kernel, request.match_info["id"], "analyzer")
    upload = await read_upload(request)
    unknown = sorted(set(upload.fields) - UPLOAD_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown form field(s) {unknown}; known: {sorted(UPLOAD_FIELDS)} and 'file'",
                             field=unknown[0])
    fields = upload.fields
    max_depth = request.app[SETTINGS].max_json_depth
    config = _object_field(fields, "config", max_depth)
    inputs = _object_field(fields, "inputs", max_depth)
    configs = _object_field(fields, "configs", max_depth)
    language = fields.get("language", "auto").strip() or "auto"
    if language not in _LANGUAGES:
        raise InvalidRequest(f"form field 'language' must be one of {list(_LANGUAGES)}, got {language!r}",
                             field="language")
    clean = clean_option(form_bool(fields, "clean", False), form_bool(fields, "raw", False), prefix="")
    text_column = fields.get("text_column", "").strip() or None
    documents = read_bytes(upload.data, safe_filename(upload.filename), text_column=text_column,
                           limits=kernel.settings.archive_limits)
    use_cache = form_bool(fields, "cache", True)
    steps: list[StepResult] = []
    for document in documents:
        document.language = language  # type: ignore[assignment]
        steps.append(await run_target(kernel, manifest, document, config, inputs, use_cache=use_cache, clean=clean,
                                      configs=configs, request_id=request[REQUEST_ID_KEY]))
    if len(documents) == 1 and "row" not in documents[0].metadata:
        step = steps[0]
        assert step.result is not None
        return json_response(AnalyzeResponse(plugin=manifest.id, version=manifest.version, cached=step.cached,
                                             result=step.result))
    rows = [RowResult(id=document.id, cached=step.cached, result=step.result or {},
                      metadata={key: document.metadata[key] for key in ("row", "line", "columns")})
            for document, step in zip(documents, steps)]
    return json_response(AnalyzeRowsResponse(plugin=manifest.id, version=manifest.version, documents=rows))


def setup_analysis_routes(app: web.Application) -> None:
    app.router.add_post("/analyze/{id}", analyze)
    app.router.add_post("/analyze/{id}/file", analyze_file)
    app.router.add_post("/process/{id}", process)
    describe(app[API_DOC])


RUN_ERRORS = (400, 404, 413, 415, 422, 502, 503, 504)


def describe(doc: ApiDoc) -> None:
    doc.add("post", "/analyze/{id}", "analyze", tag="analysis", summary="Run an analyzer",
            description="Run an analyzer plugin on `text` or a `document`. Results are cached by plugin version, "
                        "config and input; `\"cache\": false` runs the plugin anyway. A transcript (WebVTT, SRT, "
                        "Teams export, chat lines) is cleaned first by the cleaner (the plugin providing "
                        "`segments`) with the pipelines' cleaning settings; `\"raw\": true` opts out, "
                        "`\"clean\": true` cleans any text. Requirements missing from `inputs` are computed first "
                        "(`configs` sets those steps' configs).",
            request=RunRequest, responses={200: AnalyzeResponse}, errors=RUN_ERRORS)
    doc.add("post", "/analyze/{id}/file", "analyzeFile", tag="analysis", summary="Run an analyzer on an upload",
            description="multipart/form-data: the `file` part (text in any common encoding, PDF, .docx, .vtt, "
                        ".srt, .md, or a CSV of survey answers with `text_column`: one document per row) and "
                        "optional fields `config`, `inputs`, `configs` (JSON objects), `cache`, `clean`, `raw` "
                        "(true/false), `text_column` and `language` (pt, en, auto). Transcripts are cleaned "
                        "first unless `raw`. A CSV answers one entry per row in `documents`. Unreadable files: "
                        "415 (binary, unknown encoding), 413 (an archive inflating past "
                        "QUALIA_MAX_UNPACKED_BYTES), 422 (empty, a PDF without text), naming the file.",
            form=UPLOAD_FORM_SCHEMA, responses={200: [AnalyzeResponse, AnalyzeRowsResponse]}, errors=RUN_ERRORS)
    doc.add("post", "/process/{id}", "process", tag="analysis", summary="Run a document plugin",
            description="Run a document plugin (e.g. teams_cleaner) on `text` or a `document`; answers the new "
                        "document. The text is sent as it is unless `\"clean\": true`.",
            request=RunRequest, responses={200: ProcessResponse}, errors=RUN_ERRORS)


UPLOAD_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "The document: text (any common encoding), PDF, .docx, .vtt, .srt, .md or CSV"},
        "config": {"type": "string", "description": "JSON object: the analyzer's config"},
        "inputs": {"type": "string", "description": "JSON object: artefacts the analyzer requires"},
        "configs": {"type": "string", "description": "JSON object: config of each dependency step (with clean)"},
        "cache": {"type": "string", "enum": ["true", "false"], "default": "true"},
        "clean": {"type": "string", "enum": ["true", "false"], "default": "false",
                  "description": "clean any text first, not only transcripts"},
        "raw": {"type": "string", "enum": ["true", "false"], "default": "false",
                "description": "do not clean transcripts first"},
        "text_column": {"type": "string", "description": "CSV: the column holding each row's text"},
        "language": {"type": "string", "enum": list(_LANGUAGES), "default": "auto"},
    },
}
