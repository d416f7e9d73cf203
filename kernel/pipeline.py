"""Pipelines: a list of steps, validated as a whole before anything runs.

A document flows through document steps; analyzer results become artefacts
(named by the manifest's `provides`) that later steps receive as `inputs`;
visualizer figures are returned and, given an output folder, written there.
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Manifest

from .analysis import FigureOutput, StepResult, artefacts_of, cleaning_config
from .errors import BadRequest, CallerError, InvalidConfig, QualiaError, UnknownPlugin
from .resolver import resolve_order
from .versions import parse_pin, pin_mismatch

__all__ = ["FigureOutput", "PipelineError", "PipelineRun", "PipelineSpec", "PlannedStep", "Step", "StepResult",
           "load_pipeline", "parse_pipeline", "plan_for_target", "plan_pipeline", "run_plan", "with_cleaning"]


class PipelineError(CallerError):
    """A pipeline that cannot run as written; the message names the step."""

    status = 422
    code = "invalid_pipeline"


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One plugin call; a document flows through document steps, analyzer results feed later steps."""

    plugin: Annotated[str, Meta(description="A plugin id, optionally pinned to versions (PEP 440): "
                                            "'word_frequency' or 'word_frequency >=1.2,<2'")]
    id: Annotated[str, Meta(description="Names the step and its output file; defaults to the plugin id")] = ""
    config: Annotated[dict[str, Any], Meta(description="The plugin's config, checked against its parameters "
                                                       "before anything runs")] = {}


class PipelineSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A pipeline: steps run in order on each document; the whole pipeline is checked before anything runs."""

    name: str = "pipeline"
    description: str = ""
    steps: Annotated[list[Step], Meta(description="At least one step")]


class PlannedStep(msgspec.Struct, kw_only=True):
    id: str
    manifest: Manifest
    config: dict[str, Any]  # validated, defaults filled in


class PipelineRun(msgspec.Struct, kw_only=True):
    pipeline: str
    document_id: str
    steps: list[StepResult]


def load_pipeline(path: Path) -> PipelineSpec:
    """Read a pipeline file (.toml or .json); errors name the file and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot read pipeline {path}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PipelineError(f"pipeline {path}: not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {exc}",
                            path=str(path)) from None
    return parse_pipeline(raw, source=str(path))


def parse_pipeline(raw: Any, source: str = "pipeline") -> PipelineSpec:
    try:
        spec = msgspec.convert(raw, PipelineSpec)
    except msgspec.ValidationError as exc:
        raise PipelineError(f"{source}: {exc}", source=source) from None
    if not spec.steps:
        raise PipelineError(f"{source}: a pipeline needs at least one step", source=source)
    return spec


def plan_pipeline(kernel: Any, spec: PipelineSpec) -> list[PlannedStep]:
    """Check every step (plugin known, config valid, inputs provided earlier) before anything runs."""
    planned: list[PlannedStep] = []
    available: set[str] = set()
    seen_ids: set[str] = set()
    for index, step in enumerate(spec.steps, start=1):
        try:
            pin = parse_pin(step.plugin)
        except ValueError as exc:
            raise PipelineError(f"step {index}: plugin {exc}", step=index) from None
        step_id = step.id or pin.plugin
        label = f"step {index} ({step_id})"
        if step_id in seen_ids:
            raise PipelineError(f"{label}: duplicate step id {step_id!r}; give the step an explicit id",
                                step=index)
        seen_ids.add(step_id)
        try:
            manifest = kernel.registry.get(pin.plugin)
            config = kernel.prepare_config(manifest, step.config)
        except (UnknownPlugin, InvalidConfig) as exc:
            raise PipelineError(f"{label}: {exc.message}", step=index, **exc.details) from None
        mismatch = pin_mismatch(pin, manifest)
        if mismatch is not None:
            raise PipelineError(f"{label}: {mismatch}", step=index, plugin=manifest.id, version=manifest.version,
                                wanted=str(pin.specifiers))
        missing = [artefact for artefact in manifest.requires if artefact not in available]
        if missing:
            raise PipelineError(f"{label}: plugin {manifest.id!r} requires {missing}, which no earlier step "
                                f"provides", step=index, missing=missing)
        available.update(manifest.provides)
        planned.append(PlannedStep(id=step_id, manifest=manifest, config=config))
    return planned


def plan_for_target(kernel: Any, target: str, config: dict[str, Any] | None = None, *, clean: bool = False,
                    configs: dict[str, dict[str, Any]] | None = None) -> list[PlannedStep]:
    """The steps that run `target` with its dependencies resolved; `clean` puts the cleaner first."""
    configs = dict(configs or {})
    configs[target] = config or {}
    steps: list[Step] = []
    available: set[str] = set()
    manifest = kernel.registry.get(target)
    cleaner = kernel.cleaner_for(manifest, Document(text=""), True) if clean else None
    if cleaner is not None:
        steps.append(Step(plugin=cleaner.id, config=cleaning_config(cleaner, configs.get(cleaner.id))))
        available.update(cleaner.provides)
    order = resolve_order(kernel.registry, target, available)
    steps += [Step(plugin=m.id, config=configs.get(m.id, {})) for m in order]
    return plan_pipeline(kernel, PipelineSpec(name=target, steps=steps))


def with_cleaning(kernel: Any, plan: list[PlannedStep], document: Document,
                  clean: bool | None = None) -> list[PlannedStep]:
    """`plan` with the cleaner put first when `document` needs it (see `Kernel.cleaner_for`).

    A plan that already has a step providing `segments` cleans for itself and is left alone.
    """
    if clean is False or not plan or any("segments" in step.manifest.provides for step in plan):
        return plan
    cleaner = kernel.cleaner_for(plan[0].manifest, document, clean)
    if cleaner is None:
        return plan
    config = kernel.prepare_config(cleaner, cleaning_config(cleaner))
    return [PlannedStep(id=cleaner.id if cleaner.id not in {step.id for step in plan} else f"{cleaner.id}_auto",
                        manifest=cleaner, config=config), *plan]


async def run_plan(kernel: Any, plan: list[PlannedStep], document: Document, *, name: str = "pipeline",
                   output_dir: Path | None = None, use_cache: bool = True,
                   artefacts: dict[str, Any] | None = None, request_id: str | None = None) -> PipelineRun:
    """Run the planned steps in order, each through `Kernel.run_step`; figures go to `output_dir` if given."""
    artefacts = dict(artefacts or {})
    results: list[StepResult] = []
    for step in plan:
        manifest = step.manifest
        inputs = {name: artefacts[name] for name in manifest.requires}
        result = await kernel.run_step(manifest, document, step.config, inputs, step_id=step.id, use_cache=use_cache,
                                       request_id=request_id)
        if result.document is not None:
            document = result.document
        artefacts.update(artefacts_of(manifest, result))
        figure = result.figure
        if figure is not None and output_dir is not None and figure.data is not None:
            target = output_dir / _safe_name(document.id or "document") / f"{_safe_name(step.id)}.{figure.format}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(figure.data)
            figure.path = str(target)
            figure.data = None
        results.append(result)
    return PipelineRun(pipeline=name, document_id=document.id, steps=results)


def _safe_name(name: str) -> str:
    """A file name that cannot leave its folder, whatever the document id says."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._")
    return cleaned[:100] or "document"
