"""How a request becomes kernel work: the document, the checked plugin, the run.

Shared by the analysis, figure and pipeline routes so they agree on the
rules: `text` or `document` (one of them), the plugin kind must match the
route, configs are validated before anything runs and errors name the JSON
field (`$.config.top_n`, `$.configs.teams_cleaner.language`,
`$.pipeline.steps[0].config.top_n`). One plugin runs through
`Kernel.analyze` (its requirements resolved, a transcript cleaned first
unless `raw`); a pipeline through `run_plan`. Cancellation is never caught
here: when the client goes away, it reaches the plugin as `$/cancel`.
"""
from __future__ import annotations

from typing import Any

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Manifest

from ..analysis import StepResult
from ..errors import InvalidConfig, InvalidRequest, QualiaError, WrongPluginKind
from ..kernel import Kernel
from ..pipeline import PipelineError, PipelineSpec, PlannedStep, plan_pipeline
from .routes_plugins import manifest_for

ROUTE_OF_KIND = {"analyzer": "analyze", "document": "process", "visualizer": "visualize"}


def request_document(text: str | None, document: Document | None) -> Document:
    if text is not None and document is not None:
        raise InvalidRequest("send either `text` or `document`, not both", field="$.document")
    if document is not None:
        return document
    if text is not None:
        return Document(text=text)  # whether it is a transcript is decided by Kernel.analyze, only if it matters
    raise InvalidRequest("the body needs `text` (a string) or `document` (a Document object)", field="$.text")


def clean_option(clean: bool, raw: bool, prefix: str = "$.") -> bool | None:
    """The request's `clean`/`raw` pair as `Kernel.analyze`'s `clean`: True, False, or None (transcripts only)."""
    if clean and raw:
        raise InvalidRequest("`clean` and `raw` contradict each other: send one of them", field=f"{prefix}raw")
    return True if clean else False if raw else None


def plugin_of_kind(kernel: Kernel, plugin_id: str, kind: str) -> Manifest:
    """The manifest named in the URL; 404 if unknown, 422 if the route runs another kind."""
    manifest = manifest_for(kernel, plugin_id)
    if manifest.kind != kind:
        raise WrongPluginKind(f"plugin {plugin_id!r} is a {manifest.kind} plugin; POST /{ROUTE_OF_KIND[kind]}/{{id}} "
                              f"runs {kind} plugins: use POST /{ROUTE_OF_KIND[manifest.kind]}/{plugin_id}",
                              plugin=plugin_id, kind=manifest.kind, expected=kind)
    return manifest


def _named_field(exc: QualiaError, steps: list[str]) -> QualiaError:
    """Add `field` to a PipelineError from planning, so the client knows which config to fix."""
    key = exc.details.get("key")
    step = exc.details.get("step")
    if isinstance(step, int):
        base = f"$.pipeline.steps[{step - 1}]"
        exc.details["field"] = f"{base}.config.{key}" if key else base
    return exc


def plan_spec(kernel: Kernel, spec: PipelineSpec) -> list[PlannedStep]:
    if not spec.steps:
        raise PipelineError("a pipeline needs at least one step", field="$.pipeline.steps")
    try:
        return plan_pipeline(kernel, spec)
    except PipelineError as exc:
        raise _named_field(exc, [step.plugin for step in spec.steps]) from None


async def run_target(kernel: Kernel, manifest: Manifest, document: Document, config: dict[str, Any],
                     inputs: dict[str, Any], *, use_cache: bool, clean: bool | None = None,
                     configs: dict[str, dict[str, Any]] | None = None, resolve: bool = True,
                     request_id: str | None = None) -> StepResult:
    """Run one plugin through `Kernel.analyze`; the StepResult of the plugin itself."""
    try:
        analysis = await kernel.analyze(manifest.id, document, config, inputs=inputs, configs=configs, clean=clean,
                                        resolve=resolve, use_cache=use_cache, request_id=request_id)
    except InvalidConfig as exc:
        plugin, key = exc.details.get("plugin"), exc.details.get("key") or ""
        field = "$.config" if plugin == manifest.id else f"$.configs.{plugin}"
        exc.details["field"] = f"{field}.{key}".rstrip(".")
        raise
    return analysis.target
