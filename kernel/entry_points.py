"""Entry-point groups: how installed packages add plugins, commands and server add-ons.

One reader for every group, so plugins (`qualia.plugins`, located without
importing their code), CLI commands (`qualia.commands`) and server add-ons
(`qualia.server_addons`) are discovered the same way. A package that is
declared but cannot be found or loaded is reported by name, never fatal.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path
from typing import Any, Iterator, NamedTuple

log = logging.getLogger("qualia.entry_points")


class EntryPointProblem(NamedTuple):
    name: str  # "group:name = module:attr (distribution)"
    reason: str


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    owner = f" ({dist.name})" if dist is not None else ""
    return f"{entry_point.group}:{entry_point.name} = {entry_point.value}{owner}"


def declared(group: str) -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, sorted by name so the order never depends on install order."""
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value))


def locate(group: str, problems: list[EntryPointProblem] | None = None) -> Iterator[Path]:
    """The folder of each entry point's module, found without importing it."""
    for _, folder in locate_entries(group, problems):
        yield folder


def locate_entries(group: str, problems: list[EntryPointProblem] | None = None
                   ) -> Iterator[tuple[importlib.metadata.EntryPoint, Path]]:
    """(entry point, folder of its module) for each entry point whose module can be found, without importing it.

    A module that cannot be found (a distribution installed without its package, a typo in the entry point)
    is reported in `problems`, naming the entry point and its distribution.
    """
    for entry_point in declared(group):
        try:
            spec = importlib.util.find_spec(entry_point.module)
        except (ImportError, ValueError) as exc:
            spec, why = None, str(exc)
        else:
            why = "module not found"
        if spec is None:
            _report(problems, entry_point, f"{entry_point.module}: {why}")
            continue
        if spec.submodule_search_locations:
            yield entry_point, Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            yield entry_point, Path(spec.origin).parent


def describe(entry_point: importlib.metadata.EntryPoint) -> str:
    """`group:name = module (distribution)`, as problems name an entry point."""
    return _describe(entry_point)


def load(group: str, problems: list[EntryPointProblem] | None = None) -> list[tuple[str, Any]]:
    """(name, loaded object) for each entry point of `group` that imports."""
    loaded = []
    for entry_point in declared(group):
        try:
            loaded.append((entry_point.name, entry_point.load()))
        except Exception as exc:  # an add-on's import error must not stop the CLI or the server
            _report(problems, entry_point, f"{type(exc).__name__}: {exc}")
    return loaded


def _report(problems: list[EntryPointProblem] | None, entry_point: importlib.metadata.EntryPoint,
            reason: str) -> None:
    name = _describe(entry_point)
    log.warning("entry point %s cannot be used: %s", name, reason)
    if problems is not None:
        problems.append(EntryPointProblem(name, reason))
