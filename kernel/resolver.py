"""`resolve_order`: which plugins must run, and in what order, to satisfy a request.

Computed from the manifests' `provides`/`requires`; a missing provider or a
cycle is a ResolutionError naming the artefacts involved.
"""
from __future__ import annotations

from qualia.plugin_sdk.manifest import Manifest

from .errors import ResolutionError
from .registry import Registry


def choose_provider(registry: Registry, artefact: str, preferred: dict[str, str] | None = None) -> Manifest:
    """The plugin providing `artefact`: the caller's choice, else the only one, else the first by id."""
    if preferred and artefact in preferred:
        manifest = registry.get(preferred[artefact])
        if artefact not in manifest.provides:
            raise ResolutionError(f"plugin {manifest.id!r} does not provide {artefact!r}", artefact=artefact)
        return manifest
    providers = sorted(registry.providers(artefact), key=lambda m: m.id)
    if not providers:
        raise ResolutionError(f"no plugin provides the artefact {artefact!r}", artefact=artefact)
    return providers[0]


def resolve_order(registry: Registry, target: str, available: set[str] | frozenset[str] = frozenset(),
                  preferred: dict[str, str] | None = None) -> list[Manifest]:
    """Plugins to run, dependencies first, ending with `target`; artefacts in `available` are not re-made."""
    order: list[Manifest] = []
    done: set[str] = set()
    visiting: list[tuple[str, str]] = []  # (plugin id, artefact that brought us here)

    def visit(manifest: Manifest, via: str) -> None:
        if manifest.id in done:
            return
        if any(plugin_id == manifest.id for plugin_id, _ in visiting):
            start = next(i for i, (plugin_id, _) in enumerate(visiting) if plugin_id == manifest.id)
            cycle = [artefact for _, artefact in visiting[start + 1:]] + [via]
            raise ResolutionError(
                f"dependency cycle through the artefacts {' -> '.join(cycle)} "
                f"(plugins {' -> '.join(p for p, _ in visiting[start:])} -> {manifest.id})", artefacts=cycle)
        visiting.append((manifest.id, via))
        for artefact in manifest.requires:
            if artefact in available:
                continue
            try:
                provider = choose_provider(registry, artefact, preferred)
            except ResolutionError as exc:
                raise ResolutionError(f"{exc.message}, which plugin {manifest.id!r} requires",
                                      artefact=artefact, plugin=manifest.id) from None
            visit(provider, artefact)
        visiting.pop()
        done.add(manifest.id)
        order.append(manifest)

    visit(registry.get(target), "")
    return order
