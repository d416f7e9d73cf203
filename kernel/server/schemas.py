"""Request and response bodies of the REST front, as msgspec Structs.

They are the single definition of the HTTP contract: requests are decoded
(and validated) by the decoders below, responses encoded by one shared
encoder, and `/openapi.json` is generated from these same types.
Request Structs forbid unknown fields, so a typo (`"confg"`) is a 422 naming
it rather than a silently ignored key.
"""
from __future__ import annotations

from typing import Any, Literal

import msgspec
from aiohttp import web

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Parameter

from ..breaker import BreakerState
from ..pipeline import PipelineRun, PipelineSpec
from ..registry import ManifestProblem
from ..supervisor import PluginStatus, ProcessStatus

Format = Literal["png", "svg", "html"]
PluginKind = Literal["analyzer", "document", "visualizer"]

# ---- errors --------------------------------------------------------------------


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer, whatever the status."""

    error: ErrorDetail


# ---- requests ------------------------------------------------------------------


class RunRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of POST /analyze/{id} and POST /process/{id}: `text` or `document`, not both."""

    text: str | None = None
    document: Document | None = None
    config: dict[str, Any] = {}
    inputs: dict[str, Any] = {}  # artefacts the plugin requires, e.g. {"word_frequencies": {...}}
    cache: bool = True  # false: run the plugin even if the same call is cached
    clean: bool = False  # clean any text first (transcripts are cleaned anyway, unless `raw`)
    raw: bool = False  # do not clean a transcript first
    configs: dict[str, dict[str, Any]] = {}  # config of each other step (the cleaner, providers of requirements)


class VisualizeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of POST /visualize/{id}: a text/document (dependencies run first) or `inputs` directly."""

    text: str | None = None
    document: Document | None = None
    inputs: dict[str, Any] = {}
    config: dict[str, Any] = {}
    configs: dict[str, dict[str, Any]] = {}
    format: Format | None = None
    clean: bool = False
    raw: bool = False
    cache: bool = True


class PipelineRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of POST /pipeline."""

    pipeline: PipelineSpec
    text: str | None = None
    document: Document | None = None
    cache: bool = True


# ---- responses -----------------------------------------------------------------


class AnalyzeResponse(msgspec.Struct, kw_only=True):
    plugin: str
    version: str
    cached: bool
    result: dict[str, Any]


class RowResult(msgspec.Struct, kw_only=True):
    """One row of an uploaded CSV: its document id, the analyzer's result and the row's metadata."""

    id: str
    cached: bool
    result: dict[str, Any]
    metadata: dict[str, Any]  # row, line, columns (the row's other cells)


class AnalyzeRowsResponse(msgspec.Struct, kw_only=True):
    """POST /analyze/{id}/file with a CSV: one entry per row that has text."""

    plugin: str
    version: str
    documents: list[RowResult]


class ProcessResponse(msgspec.Struct, kw_only=True):
    plugin: str
    version: str
    cached: bool
    document: Document


class FigureResponse(msgspec.Struct, kw_only=True):
    """POST /visualize/{id} with `Accept: application/json`: the figure as base64."""

    plugin: str
    version: str
    cached: bool
    format: Format
    media_type: str
    size: int
    data: bytes  # base64 in JSON


class PluginHealth(msgspec.Struct, kw_only=True):
    state: str  # not started | idle | running | open | half-open | stopped
    processes: list[ProcessStatus]
    restarts: int
    calls: int
    breaker_failures: int  # consecutive, as the breaker counts them
    total_failures: int
    trips: int
    waiting: int
    retry_after_s: float | None = None


class HealthResponse(msgspec.Struct, kw_only=True):
    status: Literal["ok", "degraded", "stopping", "stopped"]
    version: str
    uptime_s: float
    degraded: list[str]  # plugins whose breaker is open or half-open
    plugins: dict[str, PluginHealth]
    manifest_problems: int


class PluginSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    version: str
    kind: PluginKind
    description: str
    provides: list[str]
    requires: list[str]
    formats: list[Format]
    state: str


class PluginList(msgspec.Struct, kw_only=True):
    plugins: list[PluginSummary]
    problems: list[ManifestProblem]


class PluginDetail(PluginSummary, kw_only=True):
    timeout_s: float
    concurrency: int
    parameters: dict[str, Parameter]
    config_schema: dict[str, Any]  # JSON Schema of `config`
    status: PluginStatus | None  # null until the plugin has been used


REQUEST_TYPES: tuple[type, ...] = (RunRequest, VisualizeRequest, PipelineRequest)
RESPONSE_TYPES: tuple[type, ...] = (ErrorBody, AnalyzeResponse, AnalyzeRowsResponse, ProcessResponse, FigureResponse,
                                    PipelineRun, HealthResponse, PluginList, PluginDetail, BreakerState)

# ---- encoding --------------------------------------------------------------------

ENCODER = msgspec.json.Encoder()
RUN_DECODER = msgspec.json.Decoder(RunRequest)
VISUALIZE_DECODER = msgspec.json.Decoder(VisualizeRequest)
PIPELINE_DECODER = msgspec.json.Decoder(PipelineRequest)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=ENCODER.encode(value), status=status, content_type="application/json")
