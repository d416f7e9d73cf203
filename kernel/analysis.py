"""What one analysis returns, and how the kernel picks the transcript cleaner.

`Kernel.analyze` runs one plugin on one document with its requirements
resolved; its answer is an `Analysis`: the `StepResult` of every plugin that
ran (a cleaner, the providers of the requirements, the target last) and the
document the target saw. Pipelines are lists of such steps.

The cleaner is whichever document plugin provides `segments` and requires
nothing: the one `QUALIA_CLEANER` names, else the only one, else one installed
from outside the bundled folder (installing a cleaner is a choice), else the
first by id. The kernel names no plugin itself. Transcripts are cleaned with
`CLEANING_DEFAULTS` (the settings of `examples/pipelines/transcript.toml`),
keeping only the keys the chosen cleaner declares.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import Manifest

from .errors import ResolutionError
from .registry import Registry

__all__ = ["CLEANING_DEFAULTS", "SEGMENTS", "Analysis", "FigureOutput", "StepResult", "artefacts_of", "choose_cleaner",
           "cleaning_config", "is_cleaner"]

SEGMENTS = "segments"
CLEANING_DEFAULTS: dict[str, Any] = {"remove_system_lines": True, "remove_fillers": True}


class FigureOutput(msgspec.Struct, kw_only=True, omit_defaults=True):
    media_type: str
    format: str
    size: int
    path: str | None = None
    data: bytes | None = None  # only when not written to a file


class StepResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    plugin: str
    kind: str
    cached: bool
    elapsed_ms: float
    result: dict[str, Any] | None = None
    document: Document | None = None
    figure: FigureOutput | None = None


class Analysis(msgspec.Struct, kw_only=True):
    steps: list[StepResult]  # the target's last
    document: Document  # as the target received it (cleaned, when a cleaner ran)
    cleaner: str | None = None  # the cleaner that ran first, if any

    @property
    def target(self) -> StepResult:
        return self.steps[-1]


def artefacts_of(manifest: Manifest, step: StepResult) -> dict[str, Any]:
    """The artefacts a finished step provides to later steps: an analyzer's result under each name it
    provides, a document plugin's segments under `segments` (its other artefacts carry no value)."""
    if step.result is not None:
        return {name: step.result for name in manifest.provides}
    if step.document is not None:
        segments = msgspec.to_builtins(step.document.segments)
        return {name: segments if name == SEGMENTS else None for name in manifest.provides}
    return {}


def is_cleaner(manifest: Manifest) -> bool:
    return manifest.kind == "document" and SEGMENTS in manifest.provides and not manifest.requires


def choose_cleaner(registry: Registry, preferred: str | None = None) -> Manifest | None:
    """The transcript cleaner, or None when no plugin can clean (the analysis then runs on the raw text)."""
    if preferred:
        manifest = registry.get(preferred)
        if not is_cleaner(manifest):
            raise ResolutionError(f"QUALIA_CLEANER names {preferred!r}, which is not a document plugin providing "
                                  f"{SEGMENTS!r} without requirements", plugin=preferred)
        return manifest
    cleaners = [manifest for manifest in registry if is_cleaner(manifest)]  # sorted by id
    if len(cleaners) <= 1:
        return cleaners[0] if cleaners else None
    bundled = registry.bundled.resolve() if registry.bundled is not None else None
    outside = [manifest for manifest in cleaners
               if bundled is None or not Path(manifest.path).resolve().is_relative_to(bundled)]
    return (outside or cleaners)[0]


def cleaning_config(cleaner: Manifest, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cleaning defaults the cleaner understands, overridden by the caller's `given` config."""
    defaults = {key: value for key, value in CLEANING_DEFAULTS.items() if key in cleaner.parameters}
    return {**defaults, **(given or {})}
