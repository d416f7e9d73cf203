"""The plugin index: a JSON file naming pip-installable plugin distributions, searched and installed from the CLI.

The index is a local path or an http(s) URL: `--index`, else QUALIA_PLUGIN_INDEX,
else the sample shipped here (plugin-index.json, the bundled plugins). Installing
goes through pip into the interpreter running Qualia (`sys.executable -m pip
install`), so the plugin's entry point is visible to the next discovery at once.
An entry's `install` is a pip requirement, a wheel path (relative to the index
file) or a URL; its `pip_args` are passed on (e.g. `--no-index --find-links DIR`).
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from .errors import InstallFailed, InvalidPluginIndex, NotFound

SAMPLE_INDEX = Path(__file__).resolve().parent / "plugin-index.json"
INDEX_FORMAT = "qualia-plugin-index/1"
FETCH_TIMEOUT_S = 15


class IndexEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    name: str  # the plugin id it provides
    description: str = ""
    kind: str = ""
    version: str = ""
    distribution: str = ""  # the pip distribution name
    install: str = ""  # a pip requirement, a wheel path (relative to the index) or a URL; default: distribution
    pip_args: list[str] = []  # passed to pip before the target, e.g. ["--no-index", "--find-links", "wheels"]
    bundled: bool = False  # ships with qualia-core: nothing to install
    keywords: list[str] = []
    homepage: str = ""


class PluginIndex(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: str = INDEX_FORMAT
    plugins: list[IndexEntry]
    source: str = ""  # where it was read from (set by the loader)


def index_location(explicit: str | None = None) -> str:
    return explicit or os.environ.get("QUALIA_PLUGIN_INDEX") or str(SAMPLE_INDEX)


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in ("http", "https", "file")


def load_index(location: str | None = None) -> PluginIndex:
    where = index_location(location)
    try:
        if _is_url(where):
            with urllib.request.urlopen(where, timeout=FETCH_TIMEOUT_S) as answer:  # noqa: S310 (http/https/file)
                data = answer.read()
        else:
            data = Path(where).read_bytes()
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise InvalidPluginIndex(f"cannot read the plugin index {where}: {exc}", index=where) from None
    try:
        index = msgspec.json.decode(data, type=PluginIndex)
    except msgspec.DecodeError as exc:  # ValidationError included: the message names the field ($.plugins[0].name)
        raise InvalidPluginIndex(f"plugin index {where}: {exc}", index=where) from None
    if index.format != INDEX_FORMAT:
        raise InvalidPluginIndex(f"plugin index {where}: format {index.format!r} is not {INDEX_FORMAT!r}", index=where)
    index.source = where
    return index


def search(index: PluginIndex, term: str) -> list[IndexEntry]:
    """Entries whose name, description, kind, distribution or keywords contain `term` (case-insensitive)."""
    needle = term.lower()
    return [entry for entry in index.plugins
            if needle in " ".join([entry.name, entry.description, entry.kind, entry.distribution,
                                   *entry.keywords]).lower()]


def find(index: PluginIndex, name: str) -> IndexEntry:
    for entry in index.plugins:
        if entry.name == name or (entry.distribution and entry.distribution == name):
            return entry
    names = ", ".join(sorted(entry.name for entry in index.plugins)) or "none"
    raise NotFound(f"no plugin {name!r} in the index {index.source} (it lists: {names})", plugin=name)


def _resolve(index: PluginIndex, value: str) -> str:
    """A path in the index (a wheel, a --find-links folder) relative to the index file's folder."""
    if _is_url(index.source) or _is_url(value) or os.path.isabs(value):
        return value
    if value.endswith((".whl", ".tar.gz", ".zip")) or value.startswith((".", "..")) or os.sep in value:
        candidate = Path(index.source).resolve().parent / value
        if candidate.exists():
            return str(candidate)
    return value


def pip_command(index: PluginIndex, entry: IndexEntry, extra: list[str] | None = None) -> list[str]:
    target = _resolve(index, entry.install or entry.distribution or entry.name)
    args = [_resolve(index, arg) for arg in entry.pip_args]
    return [sys.executable, "-m", "pip", "install", *args, *(extra or []), target]


def install(index: PluginIndex, entry: IndexEntry, extra: list[str] | None = None) -> list[str]:
    """pip install the entry into this interpreter's environment; return the command that ran."""
    command = pip_command(index, entry, extra)
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    if done.returncode != 0:
        raise InstallFailed(f"pip could not install {entry.name!r} (exit {done.returncode}): {' '.join(command)}",
                            plugin=entry.name, command=command)
    importlib.invalidate_caches()  # the new distribution's entry point is seen by the next discovery
    return command


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
