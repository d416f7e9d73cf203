"""How a request becomes kernel work: the document, the checked plugin, the plan, the run.

Shared by the analysis, figure and pipeline routes so they agree on the
rules: `text` or `document` (one of them), the plugin kind must match the
route, configs are validated before anything runs and errors name the JSON
field (`$.config.top_n`, `$.configs.teams_cleaner.language`,
`$.pipeline.steps[0].config.top_n`). A single plugin runs through
`kernel.execute`; with `clean` (or for figures from a text) the steps come
from `plan_for_target` and run through `run_plan`. Cancellation is never
caught here: when the client goes away, it reaches the plugin as `$/cancel`.
"""
from __future__ import annotations

import time
from typing import Any

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import FORMAT_MEDIA_TYPES, Manifest

from ..errors import InvalidConfig, InvalidRequest, QualiaError, WrongPluginKind
from ..kernel import Kernel
from ..pipeline import (CLEANER_ID, FigureOutput, PipelineError, PipelineSpec, PlannedStep, StepResult,
                        plan_for_target, plan_pipeline, run_plan)
from .routes_plugins import manifest_for

ROUTE_OF_KIND = {"analyzer": "analyze", "document": "process", "visualizer": "visualize"}


def request_document(text: str | None, document: Document | None) -> Document:
    if text is not None and document is not None:
        raise InvalidRequest("send either `text` or `document`, not both", field="$.document")
    if document is not None:
        return document
    if text is not None:
        return Document(text=text)
    raise InvalidRequest("the body needs `text` (a string) or `document` (a Document object)", field="$.text")


def plugin_of_kind(kernel: Kernel, plugin_id: str, kind: str) -> Manifest:
    """The manifest named in the URL; 404 if unknown, 422 if the route runs another kind."""
    manifest = manifest_for(kernel, plugin_id)
    if manifest.kind != kind:
        raise WrongPluginKind(f"plugin {plugin_id!r} is a {manifest.kind} plugin; POST /{ROUTE_OF_KIND[kind]}/{{id}} "
                              f"runs {kind} plugins: use POST /{ROUTE_OF_KIND[manifest.kind]}/{plugin_id}",
                              plugin=plugin_id, kind=manifest.kind, expected=kind)
    return manifest


# The full config of a request without `config` (defaults only), per manifest: the common
# case on the hot path, computed once. Keyed by the manifest object, which a reload replaces.
_DEFAULT_CONFIGS: dict[int, tuple[Manifest, dict[str, Any]]] = {}


def prepare_config(kernel: Kernel, manifest: Manifest, config: dict[str, Any], field: str = "$.config") -> dict[str, Any]:
    """The validated config with defaults; errors name the field. The result must not be mutated."""
    if not config:
        cached = _DEFAULT_CONFIGS.get(id(manifest))
        if cached is not None and cached[0] is manifest:
            return cached[1]
    try:
        full = kernel.prepare_config(manifest, config)
    except InvalidConfig as exc:
        exc.details["field"] = f"{field}.{exc.details.get('key', '')}".rstrip(".")
        raise
    if not config:
        if len(_DEFAULT_CONFIGS) > 1024:
            _DEFAULT_CONFIGS.clear()
        _DEFAULT_CONFIGS[id(manifest)] = (manifest, full)
    return full


def _named_field(exc: QualiaError, target: str, steps: list[str] | None) -> QualiaError:
    """Add `field` to a PipelineError from planning, so the client knows which config to fix."""
    key = exc.details.get("key")
    step = exc.details.get("step")
    plugin = exc.details.get("plugin")
    if steps is not None and isinstance(step, int):
        base = f"$.pipeline.steps[{step - 1}]"
        exc.details["field"] = f"{base}.config.{key}" if key else base
    elif key and plugin:
        exc.details["field"] = f"$.config.{key}" if plugin == target else f"$.configs.{plugin}.{key}"
    return exc


def plan_target(kernel: Kernel, manifest: Manifest, config: dict[str, Any], *, clean: bool,
                configs: dict[str, dict[str, Any]]) -> list[PlannedStep]:
    """The target with its dependencies (and the cleaner first when `clean`), validated."""
    if clean and CLEANER_ID not in kernel.registry.manifests:
        raise InvalidRequest(f"`clean` needs the {CLEANER_ID!r} plugin, which is not installed", field="$.clean")
    try:
        plan = plan_for_target(kernel, manifest.id, config, clean=clean, configs=configs)
    except PipelineError as exc:
        raise _named_field(exc, manifest.id, None) from None
    planned = {step.manifest.id for step in plan}
    for plugin_id in configs:
        if plugin_id not in planned:
            raise InvalidRequest(f"`configs` names {plugin_id!r}, which is not a step of this run "
                                 f"(steps: {', '.join(sorted(planned))})", field=f"$.configs.{plugin_id}")
    return plan


def plan_spec(kernel: Kernel, spec: PipelineSpec) -> list[PlannedStep]:
    if not spec.steps:
        raise PipelineError("a pipeline needs at least one step", field="$.pipeline.steps")
    try:
        return plan_pipeline(kernel, spec)
    except PipelineError as exc:
        raise _named_field(exc, "", [step.plugin for step in spec.steps]) from None


async def run_target(kernel: Kernel, manifest: Manifest, document: Document, config: dict[str, Any],
                     inputs: dict[str, Any], *, use_cache: bool, clean: bool = False,
                     configs: dict[str, dict[str, Any]] | None = None, resolve: bool = False,
                     request_id: str | None = None) -> StepResult:
    """Run one plugin, alone or after its dependencies; the StepResult of the plugin itself.

    It runs alone (inputs given by the caller) unless `clean` is set or `resolve`
    asks for its dependencies to be computed from the document.
    """
    configs = configs or {}
    if clean or resolve:
        plan = plan_target(kernel, manifest, config, clean=clean, configs=configs)
        run = await run_plan(kernel, plan, document, name=manifest.id, use_cache=use_cache, artefacts=inputs,
                             request_id=request_id)
        return run.steps[-1]
    if configs:
        raise InvalidRequest("`configs` configures dependency steps, which only run with `clean` (or, for "
                             "figures, from a text)", field="$.configs")
    full_config = prepare_config(kernel, manifest, config)
    started = time.perf_counter()
    execution = await kernel.execute(manifest.id, document, full_config, inputs, use_cache=use_cache,
                                     validated=True, request_id=request_id)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    result = StepResult(id=manifest.id, plugin=manifest.id, kind=manifest.kind, cached=execution.cached,
                        elapsed_ms=elapsed_ms)
    output = execution.output
    if isinstance(output, p.AnalyzerResult):
        result.result = output.result
    elif isinstance(output, p.DocumentResult):
        result.document = output.document
    else:
        fmt = full_config["format"]
        result.figure = FigureOutput(media_type=FORMAT_MEDIA_TYPES[fmt], format=fmt, size=len(output.data),
                                     data=output.data)
    return result
