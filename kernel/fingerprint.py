"""A plugin's code as one hash: it joins id and version in every cache key, and tells reload what changed.

An edit without a version bump must never be answered from the cache, so the key
carries what the plugin's files are, not only what its manifest says. The hash is
computed once per manifest load (discovery reads it with the manifest), never per
call. What is hashed:

- a folder plugin: every file under its folder (relative path and content), less
  caches, version-control folders and installed dependencies (`node_modules`,
  virtualenvs: bump the version when those change);
- a bundled plugin: its folder plus the helper packages the bundled plugins share;
- an installed distribution (entry point, not editable): its RECORD, which lists
  every installed file with its own sha256.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Iterable

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".pytest_cache",
                          ".mypy_cache", ".ruff_cache", ".hypothesis", ".tox"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
FORMAT = b"qualia-code-hash/1\n"


def plugin_files(folder: Path) -> list[Path]:
    """The files that make up the plugin in `folder`, sorted (the hash must not depend on listing order)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        found += [Path(root) / name for name in sorted(files) if not name.endswith(SKIPPED_SUFFIXES)]
    return found


def hash_folders(folders: Iterable[Path]) -> str:
    digest = hashlib.sha256(FORMAT)
    for folder in folders:
        digest.update(f"folder {folder.name}\n".encode())
        for path in plugin_files(folder):
            try:
                data = path.read_bytes()
            except OSError:
                continue  # vanished while listing (an editor's temporary file): the next load sees the rest
            relative = path.relative_to(folder).as_posix()
            digest.update(f"{relative}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def bundled_helpers(bundled: Path) -> list[Path]:
    """The bundled plugins' shared helper packages (folders under plugins/ without a plugin.toml)."""
    if not bundled.is_dir():
        return []
    return [child for child in sorted(bundled.iterdir())
            if child.is_dir() and child.name not in SKIPPED_DIRS and not (child / "plugin.toml").exists()]


def distribution_hash(distribution: importlib.metadata.Distribution) -> str | None:
    """The hash of a regular install's RECORD; None for an editable install (its RECORD names no code)."""
    direct_url = distribution.read_text("direct_url.json")
    if direct_url:
        try:
            if json.loads(direct_url).get("dir_info", {}).get("editable"):
                return None
        except (ValueError, AttributeError):
            return None
    record = distribution.read_text("RECORD")
    if not record:
        return None
    return hashlib.sha256(FORMAT + b"record\n" + record.encode("utf-8")).hexdigest()
