"""POST /analyze/{id}, POST /analyze/{id}/file and POST /process/{id}.

Analyzers answer `{"plugin", "version", "cached", "result"}`; document plugins
`{"plugin", "version", "cached", "document"}`. The upload route takes a
multipart form: the `file` part (a text file in UTF-8/UTF-16, or a Teams
.docx passed on as `metadata.content_base64`; set `clean` to parse it with
teams_cleaner first) and optional fields `config`, `inputs`, `configs` (JSON),
`cache`, `clean` (true/false) and `language` (pt, en, auto).
"""
from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, get_args
from urllib.parse import unquote

from aiohttp import web

from qualia.plugin_sdk.document import Language
from qualia.plugin_sdk.manifest import Manifest

from ..errors import InvalidRequest
from ..pipeline import StepResult
from ..inputs import document_from_bytes
from .bodies import form_bool, form_json, read_json, read_upload
from .logs import REQUEST_ID_KEY
from .openapi import API_DOC, ApiDoc
from .running import plugin_of_kind, request_document, run_target
from .schemas import RUN_DECODER, AnalyzeResponse, ProcessResponse, RunRequest, json_response
from .state import KERNEL, SETTINGS

UPLOAD_FIELDS = frozenset({"config", "inputs", "configs", "cache", "clean", "language"})
_LANGUAGES = get_args(Language)


async def _run_from_json(request: web.Request, kind: str) -> tuple[Manifest, StepResult]:
    """The shared body of /analyze and /process: a JSON run request on a plugin of `kind`."""
    kernel = request.app[KERNEL]
    manifest = plugin_of_kind(kernel, request.match_info["id"], kind)
    body = await read_json(request, RUN_DECODER)
    document = request_document(body.text, body.document)
    step = await run_target(kernel, manifest, document, body.config, body.inputs, use_cache=body.cache,
                            clean=body.clean, configs=body.configs, request_id=request[REQUEST_ID_KEY])
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
    document = document_from_bytes(upload.data, safe_filename(upload.filename))
    document.language = language  # type: ignore[assignment]
    step = await run_target(kernel, manifest, document, config, inputs, use_cache=form_bool(fields, "cache", True),
                            clean=form_bool(fields, "clean", False), configs=configs,
                            request_id=request[REQUEST_ID_KEY])
    assert step.result is not None
    return json_response(AnalyzeResponse(plugin=manifest.id, version=manifest.version, cached=step.cached,
                                         result=step.result))


def setup_analysis_routes(app: web.Application) -> None:
    app.router.add_post("/analyze/{id}", analyze)
    app.router.add_post("/analyze/{id}/file", analyze_file)
    app.router.add_post("/process/{id}", process)
    describe(app[API_DOC])


RUN_ERRORS = (400, 404, 413, 415, 422, 502, 503, 504)


def describe(doc: ApiDoc) -> None:
    doc.add("post", "/analyze/{id}", "analyze", tag="analysis", summary="Run an analyzer",
            description="Run an analyzer plugin on `text` or a `document`. Results are cached by plugin version, "
                        "config and input; `\"cache\": false` runs the plugin anyway. With `\"clean\": true` the "
                        "transcript is parsed by teams_cleaner first.",
            request=RunRequest, responses={200: AnalyzeResponse}, errors=RUN_ERRORS)
    doc.add("post", "/analyze/{id}/file", "analyzeFile", tag="analysis", summary="Run an analyzer on an upload",
            description="multipart/form-data: the `file` part (UTF-8/UTF-16 text, or a Teams .docx: set `clean` "
                        "to parse it) and optional fields `config`, `inputs`, `configs` (JSON objects), `cache`, "
                        "`clean` (true/false) and `language` (pt, en, auto).",
            form=UPLOAD_FORM_SCHEMA, responses={200: AnalyzeResponse}, errors=RUN_ERRORS)
    doc.add("post", "/process/{id}", "process", tag="analysis", summary="Run a document plugin",
            description="Run a document plugin (e.g. teams_cleaner) on `text` or a `document`; answers the new "
                        "document.",
            request=RunRequest, responses={200: ProcessResponse}, errors=RUN_ERRORS)


UPLOAD_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The document: text or .docx"},
        "config": {"type": "string", "description": "JSON object: the analyzer's config"},
        "inputs": {"type": "string", "description": "JSON object: artefacts the analyzer requires"},
        "configs": {"type": "string", "description": "JSON object: config of each dependency step (with clean)"},
        "cache": {"type": "string", "enum": ["true", "false"], "default": "true"},
        "clean": {"type": "string", "enum": ["true", "false"], "default": "false"},
        "language": {"type": "string", "enum": list(_LANGUAGES), "default": "auto"},
    },
}
