"""Plugin discovery: reads manifests only, never starts a process.

Order: the bundled `plugins/` folder, each folder of QUALIA_PLUGIN_PATH, then
installed packages declaring the entry point group `qualia.plugins`. Built-ins
go through the same path as outside plugins. `reload()` re-reads everything,
so manifests can change while the kernel runs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import msgspec

from qualia.plugin_sdk.manifest import Manifest, ManifestError, load_manifest

from . import entry_points as groups
from .errors import UnknownPlugin

log = logging.getLogger("qualia.registry")

BUNDLED_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
ENTRY_POINT_GROUP = "qualia.plugins"


class ManifestProblem(msgspec.Struct, kw_only=True):
    path: str
    reason: str


def _plugin_folders(root: Path) -> Iterator[Path]:
    """Folders of `root` holding a plugin.toml, sorted so discovery is deterministic."""
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / "plugin.toml").is_file():
            yield child


class Registry:
    """Known plugins by id, and the manifests that could not be loaded (with reasons)."""

    def __init__(self, search_paths: list[Path] | None = None, *, entry_points: bool = True,
                 bundled: Path | None = BUNDLED_PLUGINS) -> None:
        self.search_paths = list(search_paths or [])
        self.entry_points = entry_points
        self.bundled = bundled
        self.manifests: dict[str, Manifest] = {}
        self.problems: list[ManifestProblem] = []

    def _candidate_folders(self) -> Iterator[Path]:
        if self.bundled is not None:
            yield from _plugin_folders(self.bundled)
        for root in self.search_paths:
            if not root.is_dir():
                self.problems.append(ManifestProblem(path=str(root), reason="QUALIA_PLUGIN_PATH entry is not a folder"))
                continue
            yield from _plugin_folders(root)
        if self.entry_points:
            found: list[groups.EntryPointProblem] = []
            yield from groups.locate(ENTRY_POINT_GROUP, found)
            self.problems += [ManifestProblem(path=problem.name, reason=problem.reason) for problem in found]

    def reload(self) -> None:
        manifests: dict[str, Manifest] = {}
        self.problems = []
        seen: set[Path] = set()
        for folder in self._candidate_folders():
            folder = folder.resolve()
            if folder in seen:
                continue
            seen.add(folder)
            path = folder / "plugin.toml"
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                self.problems.append(ManifestProblem(path=exc.path, reason=exc.reason))
                log.warning("skipping plugin: %s", exc)
                continue
            if manifest.id in manifests:
                first = manifests[manifest.id].path
                reason = f"duplicate id {manifest.id!r} (already defined by {first}/plugin.toml)"
                self.problems.append(ManifestProblem(path=str(path), reason=reason))
                log.warning("skipping plugin: %s: %s", path, reason)
                continue
            manifests[manifest.id] = manifest
        self.manifests = manifests

    def get(self, plugin_id: str) -> Manifest:
        try:
            return self.manifests[plugin_id]
        except KeyError:
            raise UnknownPlugin(f"unknown plugin {plugin_id!r}", plugin=plugin_id,
                                known=sorted(self.manifests)) from None

    def providers(self, artefact: str) -> list[Manifest]:
        return [m for m in self.manifests.values() if artefact in m.provides]

    def __iter__(self) -> Iterator[Manifest]:
        return iter(sorted(self.manifests.values(), key=lambda m: m.id))

    def __len__(self) -> int:
        return len(self.manifests)
