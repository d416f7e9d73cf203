"""Which files a batch reads: files, folders (recursive) and globs, filtered by include/exclude patterns.

Each file found becomes a `Source` with a `key`: its path relative to the
common folder of the arguments (a folder argument itself, a file's folder;
POSIX slashes), unique within the batch and stable across runs, so a re-run
(or `qualia watch` on the same folder) finds its earlier results. The same file
reached twice (two arguments, a symlink) is read once. Folders are walked
following symlinked folders once each, so a symlink loop is reported, not
followed forever. Problems (a path that does not exist, a glob
that matches nothing, a folder that cannot be listed) are reported with the
path and the reason, not raised: the batch runs on what it can read.
"""
from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import msgspec

__all__ = ["Discovery", "Source", "discover", "ignored", "key_of", "matches"]

# Files no analysis wants: editor backups, OS litter, our own output index.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
GLOB_CHARS = frozenset("*?[")


class Source(msgspec.Struct, frozen=True):
    key: str    # relative POSIX path: names the results folder and the index entry
    path: str   # the path to read (absolute)


class Problem(msgspec.Struct, frozen=True):
    path: str
    reason: str


class Discovery(msgspec.Struct):
    sources: list[Source]
    problems: list[Problem]
    root: str  # the folder the keys are relative to


def key_of(path: str, root: str) -> str:
    """The key of a file under `root`."""
    return PurePosixPath(*Path(os.path.relpath(os.path.abspath(path), root)).parts).as_posix()


def ignored(name: str) -> bool:
    """Hidden files, OS litter and editor backups are never read."""
    return name.startswith(".") or name in IGNORED_NAMES or name.endswith("~")


def matches(key: str, patterns: Sequence[str]) -> bool:
    """True if the relative path `key`, or its file name, matches one of the glob `patterns`."""
    name = PurePosixPath(key).name
    return any(fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def discover(paths: Iterable[str | Path], *, include: Sequence[str] = (), exclude: Sequence[str] = (),
             skip: Iterable[str | Path] = ()) -> Discovery:
    """The files named by `paths` (files, folders, globs), sorted by key; `skip` folders are never entered
    (a batch's own output folder inside its input)."""
    skipped = {os.path.realpath(path) for path in skip}
    found: dict[str, str] = {}  # real path -> path as reached (first wins)
    problems: list[Problem] = []
    anchors: list[str] = []  # the folders keys are relative to: each folder argument, each file's folder
    for raw in paths:
        text = str(raw)
        candidates = [text]
        if GLOB_CHARS & set(text) and not os.path.lexists(text):
            candidates = sorted(glob.glob(text, recursive=True))
            if not candidates:
                problems.append(Problem(text, "no file matches this pattern"))
                continue
        for candidate in candidates:
            _collect(candidate, found, problems, skipped)
            anchors.append(os.path.abspath(candidate if os.path.isdir(candidate) else os.path.dirname(candidate)
                                           or "."))
    if not found:
        return Discovery(sources=[], problems=problems, root=os.getcwd())
    root = os.path.commonpath(anchors)
    sources: list[Source] = []
    for real, reached in found.items():
        key = key_of(reached, root)
        if include and not matches(key, include):
            continue
        if exclude and matches(key, exclude):
            continue
        sources.append(Source(key=key, path=os.path.abspath(reached)))
    sources.sort(key=lambda source: source.key)
    return Discovery(sources=sources, problems=problems, root=root)


def _collect(path: str, found: dict[str, str], problems: list[Problem], skipped: set[str]) -> None:
    if not os.path.lexists(path):
        problems.append(Problem(path, "no such file or folder"))
        return
    if os.path.isdir(path):
        if os.path.realpath(path) in skipped:
            return
        _walk(path, found, problems, skipped)
        return
    _add_file(path, found, problems)


def _walk(top: str, found: dict[str, str], problems: list[Problem], skipped: set[str]) -> None:
    def on_error(error: OSError) -> None:
        problems.append(Problem(error.filename or top, f"cannot list the folder: {error.strerror or error}"))

    visited = {os.path.realpath(top)}
    for folder, subfolders, files in os.walk(top, onerror=on_error, followlinks=True):
        kept = []
        for name in sorted(subfolders):
            full = os.path.join(folder, name)
            real = os.path.realpath(full)
            if name.startswith(".") or real in skipped:
                continue
            if real in visited:  # a symlinked folder seen before: a loop, or the same files twice
                if os.path.islink(full):
                    problems.append(Problem(full, "a symbolic link loop (its folder is already being read)"))
                continue
            visited.add(real)
            kept.append(name)
        subfolders[:] = kept
        for name in sorted(files):
            if ignored(name):
                continue
            _add_file(os.path.join(folder, name), found, problems)


def _add_file(path: str, found: dict[str, str], problems: list[Problem]) -> None:
    try:
        real = os.path.realpath(path, strict=True)
    except (OSError, RuntimeError) as exc:  # a dangling or looping symlink
        reason = "a symbolic link loop" if isinstance(exc, RuntimeError) or getattr(exc, "errno", 0) == 40 \
            else f"a broken symbolic link ({getattr(exc, 'strerror', None) or exc})"
        problems.append(Problem(path, reason))
        return
    if os.path.isdir(real):
        return
    found.setdefault(real, path)

