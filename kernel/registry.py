"""Plugin discovery: reads manifests only, never starts a process.

Order: the bundled `plugins/` folder, each folder of QUALIA_PLUGIN_PATH, then
installed packages declaring the entry point group `qualia.plugins`. Built-ins
go through the same path as outside plugins. `reload()` re-reads everything,
so manifests can change while the kernel runs.

With each manifest the registry keeps where it came from (`PluginSource`: bundled,
a QUALIA_PLUGIN_PATH folder, a folder named directly, or an entry point and its
distribution) and the hash of its code (`fingerprint`), computed once per load.
What could not be used is a `ManifestProblem` naming the path and, when it can be
told, the plugin id, so "unknown plugin" can say why.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import logging
import tomllib
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

import msgspec

from qualia.plugin_sdk.manifest import Manifest, ManifestError, load_manifest

from . import entry_points as groups
from .errors import UnknownPlugin
from .fingerprint import bundled_helpers, distribution_hash, hash_folders
from .versions import kernel_mismatch

log = logging.getLogger("qualia.registry")

BUNDLED_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
ENTRY_POINT_GROUP = "qualia.plugins"

SourceKind = Literal["bundled", "path", "folder", "entry_point"]


class ManifestProblem(msgspec.Struct, kw_only=True, omit_defaults=True):
    path: str
    reason: str
    plugin: str | None = None  # the id, when the manifest could be read that far


class PluginSource(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where a plugin was found: `bundled`, `path` (a QUALIA_PLUGIN_PATH folder), `folder` (named directly,
    e.g. by `qualia plugins check PATH`) or `entry_point` (an installed distribution)."""

    kind: SourceKind
    path: str  # the plugin's folder, in full
    entry_point: str | None = None  # "qualia.plugins:shout = qualia_shout"
    distribution: str | None = None  # "qualia-shout 0.1.0"

    def describe(self) -> str:
        if self.kind == "entry_point":
            return f"entry point {self.entry_point} ({self.distribution})"
        return {"bundled": "bundled", "path": "QUALIA_PLUGIN_PATH", "folder": "folder"}[self.kind]


class _Candidate(NamedTuple):
    folder: Path
    source: PluginSource
    distribution: importlib.metadata.Distribution | None = None


def _plugin_folders(root: Path) -> Iterator[Path]:
    """Folders of `root` holding a plugin.toml, sorted so discovery is deterministic."""
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / "plugin.toml").is_file():
            yield child


def _declared_id(path: Path) -> str | None:
    """The `id` a broken manifest declares, if the file reads that far (for the problem report)."""
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("id")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) else None


class Registry:
    """Known plugins by id, where each came from, the hash of its code, and what could not be loaded (with reasons)."""

    def __init__(self, search_paths: list[Path] | None = None, *, entry_points: bool = True,
                 bundled: Path | None = BUNDLED_PLUGINS, plugin_folders: list[Path] | None = None) -> None:
        self.search_paths = list(search_paths or [])
        self.plugin_folders = list(plugin_folders or [])  # single plugin folders, searched first
        self.entry_points = entry_points
        self.bundled = bundled
        self.manifests: dict[str, Manifest] = {}
        self.sources: dict[str, PluginSource] = {}
        self.code_hashes: dict[str, str] = {}
        self.problems: list[ManifestProblem] = []
        self._helpers_hash: str | None = None
        self._candidates_by_id: dict[str, _Candidate] = {}

    def _candidates(self) -> Iterator[_Candidate]:
        for folder in self.plugin_folders:
            if not (folder / "plugin.toml").is_file():
                self.problems.append(ManifestProblem(path=str(folder), reason="no plugin.toml in this folder"))
                continue
            yield _Candidate(folder=folder, source=PluginSource(kind="folder", path=str(folder.resolve())))
        if self.bundled is not None:
            for folder in _plugin_folders(self.bundled):
                yield _Candidate(folder=folder, source=PluginSource(kind="bundled", path=str(folder.resolve())))
        for root in self.search_paths:
            if not root.is_dir():
                self.problems.append(ManifestProblem(path=str(root), reason="QUALIA_PLUGIN_PATH entry is not a folder"))
                continue
            if (root / "plugin.toml").is_file():  # the commonest mistake: the plugin's folder instead of its parent
                self.problems.append(ManifestProblem(
                    path=str(root), plugin=_declared_id(root / "plugin.toml"),
                    reason=f"QUALIA_PLUGIN_PATH entry is itself a plugin folder (it holds plugin.toml), so that "
                           f"plugin is not loaded: QUALIA_PLUGIN_PATH lists folders that hold plugin folders; "
                           f"use its parent {root.resolve().parent}"))
            for folder in _plugin_folders(root):
                yield _Candidate(folder=folder, source=PluginSource(kind="path", path=str(folder.resolve())))
        if self.entry_points:
            found: list[groups.EntryPointProblem] = []
            for entry_point, folder in groups.locate_entries(ENTRY_POINT_GROUP, found):
                dist = getattr(entry_point, "dist", None)
                owner = f"{dist.name} {dist.version}" if dist is not None else None
                source = PluginSource(kind="entry_point", path=str(folder.resolve()),
                                      entry_point=f"{ENTRY_POINT_GROUP}:{entry_point.name} = {entry_point.value}",
                                      distribution=owner)
                if not (folder / "plugin.toml").is_file():
                    found.append(groups.EntryPointProblem(groups.describe(entry_point),
                                                          f"no plugin.toml in {folder} (the entry point must name "
                                                          f"the package whose folder holds plugin.toml)"))
                    continue
                yield _Candidate(folder=folder, source=source, distribution=dist)
            self.problems += [ManifestProblem(path=problem.name, reason=problem.reason) for problem in found]

    def reload(self) -> None:
        manifests: dict[str, Manifest] = {}
        sources: dict[str, PluginSource] = {}
        hashes: dict[str, str] = {}
        by_id: dict[str, _Candidate] = {}
        self.problems = []
        self._helpers_hash: str | None = None
        seen: set[Path] = set()
        for candidate in self._candidates():
            folder = candidate.folder.resolve()
            if folder in seen:
                continue
            seen.add(folder)
            path = folder / "plugin.toml"
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                self._problem(str(path), exc.reason, _declared_id(path))
                continue
            mismatch = kernel_mismatch(manifest)
            if mismatch is not None:
                self._problem(str(path), mismatch, manifest.id)
                continue
            if manifest.id in manifests:
                first = sources[manifest.id]
                reason = (f"duplicate id {manifest.id!r}: already defined by {first.path}/plugin.toml "
                          f"({first.describe()}), which wins")
                self._problem(str(path), reason, manifest.id)
                continue
            manifests[manifest.id] = manifest
            sources[manifest.id] = candidate.source
            hashes[manifest.id] = self._code_hash(candidate, folder)
            by_id[manifest.id] = candidate
        self.manifests, self.sources, self.code_hashes = manifests, sources, hashes
        self._candidates_by_id = by_id

    def _problem(self, path: str, reason: str, plugin: str | None) -> None:
        self.problems.append(ManifestProblem(path=path, reason=reason, plugin=plugin))
        log.warning("skipping plugin: %s: %s", path, reason)

    def _code_hash(self, candidate: _Candidate, folder: Path) -> str:
        if candidate.distribution is not None:
            recorded = distribution_hash(candidate.distribution)
            if recorded is not None:
                return recorded
        if candidate.source.kind == "bundled" and self.bundled is not None:
            if self._helpers_hash is None:  # shared by every bundled plugin: hashed once per load
                self._helpers_hash = hash_folders(bundled_helpers(self.bundled))
            return hashlib.sha256(f"{hash_folders([folder])}+{self._helpers_hash}".encode()).hexdigest()
        return hash_folders([folder])

    def refresh_code(self, plugin_id: str) -> bool:
        """Re-hash the plugin's files before a process starts; False when its plugin.toml changed.

        Code that changed under an unchanged manifest is adopted here (the new hash keys new
        results), so a restarted process never runs under a stale hash; a changed plugin.toml
        needs a full reload (new manifest and new processes together), which the caller does.
        """
        candidate = self._candidates_by_id.get(plugin_id)
        if candidate is None:
            return True
        folder = candidate.folder.resolve()
        self._helpers_hash = None
        current = self._code_hash(candidate, folder)
        if current == self.code_hashes.get(plugin_id):
            return True
        try:
            manifest = load_manifest(folder / "plugin.toml")
        except ManifestError:
            return False
        if manifest != self.manifests.get(plugin_id):
            return False
        log.info("code of plugin %s changed under the same manifest: new processes run it", plugin_id)
        self.code_hashes[plugin_id] = current
        return True

    def code_hash(self, plugin_id: str) -> str:
        """The hash of the plugin's code as loaded with its manifest ("" for a manifest added by hand)."""
        return self.code_hashes.get(plugin_id, "")

    def get(self, plugin_id: str) -> Manifest:
        try:
            return self.manifests[plugin_id]
        except KeyError:
            raise UnknownPlugin(self.unknown_message(plugin_id), plugin=plugin_id, known=sorted(self.manifests),
                                problems=[msgspec.to_builtins(p) for p in self.problems_of(plugin_id)]) from None

    def problems_of(self, plugin_id: str) -> list[ManifestProblem]:
        return [problem for problem in self.problems if problem.plugin == plugin_id]

    def unknown_message(self, plugin_id: str) -> str:
        """Why `plugin_id` is not available: its manifest's problem if it has one, else the known ids."""
        own = self.problems_of(plugin_id)
        if own:
            return f"plugin {plugin_id!r} cannot be used: " + "; ".join(f"{p.path}: {p.reason}" for p in own)
        message = f"unknown plugin {plugin_id!r}"
        close = difflib.get_close_matches(plugin_id, list(self.manifests), n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        message += f" (known: {', '.join(sorted(self.manifests)) or 'none'})"
        if self.problems:
            message += f"; {len(self.problems)} manifest problem(s), see `qualia plugins`"
        return message

    def providers(self, artefact: str) -> list[Manifest]:
        return [m for m in self.manifests.values() if artefact in m.provides]

    def __iter__(self) -> Iterator[Manifest]:
        return iter(sorted(self.manifests.values(), key=lambda m: m.id))

    def __len__(self) -> int:
        return len(self.manifests)
