"""POST /visualize/{id} and POST /pipeline.

A figure is drawn from a `text`/`document` (the analyzers it requires run
first, the cleaner too with `clean`; `configs` configures those steps) or
from analyzer results given directly as `inputs`. It is answered as raw
bytes with the format's Content-Type, or as JSON with the bytes in base64
when the client sends `Accept: application/json`. A pipeline answers the
result of every step, figures in base64.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import FORMAT_MEDIA_TYPES

from ..errors import InvalidConfig, InvalidRequest
from ..pipeline import PipelineRun, run_plan
from .bodies import read_json
from .logs import REQUEST_ID_KEY
from .openapi import API_DOC, ApiDoc
from .running import clean_option, plan_spec, plugin_of_kind, request_document, run_target
from .schemas import (PIPELINE_DECODER, VISUALIZE_DECODER, FigureResponse, PipelineRequest, VisualizeRequest,
                      json_response)
from .state import KERNEL

INPUTS_DOCUMENT_ID = "inputs"


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def visualize(request: web.Request) -> web.StreamResponse:
    kernel = request.app[KERNEL]
    manifest = plugin_of_kind(kernel, request.match_info["id"], "visualizer")
    body = await read_json(request, VISUALIZE_DECODER)
    config = dict(body.config)
    if body.format is not None:
        if config.get("format", body.format) != body.format:
            raise InvalidRequest(f"`format` is {body.format!r} but `config.format` is {config['format']!r}",
                                 field="$.format")
        if body.format not in manifest.formats:
            raise InvalidConfig(f"plugin {manifest.id!r} draws {manifest.formats}, not {body.format!r}",
                                plugin=manifest.id, key="format", field="$.format")
        config["format"] = body.format
    from_text = body.text is not None or body.document is not None
    clean = clean_option(body.clean, body.raw)
    if body.inputs:
        if body.clean or body.configs:
            raise InvalidRequest("`clean` and `configs` apply when the figure is drawn from a text; with "
                                 "`inputs` only the visualizer runs", field="$.clean" if body.clean else "$.configs")
        document = request_document(body.text, body.document) if from_text else Document(id=INPUTS_DOCUMENT_ID,
                                                                                          text="")
        clean, resolve = False, False
    elif from_text:
        document = request_document(body.text, body.document)
        resolve = True
    else:
        raise InvalidRequest("the body needs `text` or `document` (the analyzers run first) or `inputs` "
                             f"(the artefacts {manifest.requires} given directly)", field="$.text")
    step = await run_target(kernel, manifest, document, config, body.inputs, use_cache=body.cache,
                            clean=clean, configs=body.configs, resolve=resolve,
                            request_id=request[REQUEST_ID_KEY])
    figure = step.figure
    assert figure is not None and figure.data is not None
    media_type = FORMAT_MEDIA_TYPES[figure.format]
    if wants_json(request):
        return json_response(FigureResponse(plugin=manifest.id, version=manifest.version, cached=step.cached,
                                            format=figure.format, media_type=media_type,  # type: ignore[arg-type]
                                            size=figure.size, data=figure.data))
    return web.Response(body=figure.data, headers={"Content-Type": media_type,
                                                   "X-Qualia-Cached": "true" if step.cached else "false"})


async def pipeline(request: web.Request) -> web.Response:
    kernel = request.app[KERNEL]
    body = await read_json(request, PIPELINE_DECODER)
    document = request_document(body.text, body.document)
    plan = plan_spec(kernel, body.pipeline)
    run = await run_plan(kernel, plan, document, name=body.pipeline.name, use_cache=body.cache,
                         request_id=request[REQUEST_ID_KEY])
    return json_response(run)


def setup_figure_routes(app: web.Application) -> None:
    app.router.add_post("/visualize/{id}", visualize)
    app.router.add_post("/pipeline", pipeline)
    describe(app[API_DOC])


FIGURE_CONTENT: dict[str, Any] = {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
    "text/html; charset=utf-8": {"schema": {"type": "string"}},
}


def describe(doc: ApiDoc) -> None:
    doc.add("post", "/visualize/{id}", "visualize", tag="figures", summary="Draw a figure",
            description="Draw a figure with a visualizer plugin, from `text`/`document` (its required analyzers "
                        "run first, after the cleaner when the text is a transcript: `raw` opts out, `clean` "
                        "cleans any text; `configs` sets those steps' configs) or from analyzer results given as `inputs`. `format` (png, svg, html) is a body "
                        "field or `config.format`. The answer is the figure's bytes with its Content-Type, or "
                        "JSON with base64 `data` when the request says `Accept: application/json`.",
            request=VisualizeRequest, responses={200: (FigureResponse, FIGURE_CONTENT)},
            errors=(400, 404, 413, 415, 422, 502, 503, 504))
    doc.add("post", "/pipeline", "pipeline", tag="figures", summary="Run a pipeline",
            description="Run the steps of a pipeline in order on `text` or a `document`; the whole pipeline is "
                        "validated before anything runs. Answers every step's result (figures as base64).",
            request=PipelineRequest, responses={200: PipelineRun}, errors=(400, 413, 415, 422, 502, 503, 504))
