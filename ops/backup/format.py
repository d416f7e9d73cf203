"""The archive format: names, layout, the manifest, the errors, and small helpers every step shares.

An archive is a gzip-compressed tar named `qualia-backup-<UTC timestamp>.tar.gz`
(format version 1). Its first member is `MANIFEST.json` (a `BackupManifest`);
then comes `data/<path>` for every file, the path relative to QUALIA_HOME.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path, PurePosixPath
from typing import Literal

import msgspec

from qualia.kernel import QualiaError, __version__

__all__ = ["ARCHIVE_PREFIX", "ARCHIVE_RE", "ARCHIVE_SUFFIX", "FORMAT", "FORMAT_VERSION", "MANIFEST_NAME", "BackupError",
           "BackupManifest", "BackupUsageError", "FileEntry", "Skipped", "archive_time", "default_backup_dir"]


FORMAT = "qualia-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "MANIFEST.json"
DATA_PREFIX = "data/"
ARCHIVE_PREFIX = "qualia-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
STATUS_SUFFIX = ".verify.json"
TEMP_PREFIX = ".tmp-"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
ARCHIVE_RE = re.compile(r"^qualia-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz$")
SQLITE_HEADER = b"SQLite format 3\x00"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
DEFAULT_DIR_NAME = "backups"
CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
SQLITE_TIMEOUT_S = 30.0
STALE_TEMP_S = 24 * 3600.0
"""Leftovers of a create that crashed are removed by `prune` after this long."""
COMPRESS_LEVEL = 6


class BackupError(QualiaError):
    """A backup operation failed; the message says what and where (exit code 1)."""

    code = "backup_failed"


class BackupUsageError(BackupError):
    """The request cannot be carried out as given (exit code 2): no such archive, home not empty."""

    status = 400
    code = "backup_usage"
    exit_code = 2


class FileEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    path: str
    """Relative to QUALIA_HOME, with `/` separators; stored in the archive as `data/<path>`."""
    kind: Literal["sqlite", "file"]
    size: int
    sha256: str
    mode: int = 0o600
    mtime: float = 0.0
    integrity_check: str | None = None
    """SQLite databases only: "ok", or what `PRAGMA integrity_check` reported on the snapshot."""


class Skipped(msgspec.Struct, kw_only=True):
    path: str
    reason: str


class BackupManifest(msgspec.Struct, kw_only=True):
    format: str
    format_version: int
    created_at: str
    """ISO 8601, UTC."""
    qualia_version: str
    hostname: str
    home: str
    files: list[FileEntry]
    skipped: list[Skipped] = []

    @property
    def databases(self) -> list[FileEntry]:
        return [entry for entry in self.files if entry.kind == "sqlite"]


class BadManifest(Exception):
    pass


def decode_manifest(data: bytes) -> BackupManifest:
    try:
        manifest = msgspec.json.decode(data, type=BackupManifest)
    except msgspec.DecodeError as exc:
        raise BadManifest(f"{MANIFEST_NAME} is not a valid manifest: {exc}") from None
    if manifest.format != FORMAT:
        raise BadManifest(f"{MANIFEST_NAME} says format {manifest.format!r}, not {FORMAT!r}: not a Qualia backup")
    if manifest.format_version > FORMAT_VERSION:
        raise BadManifest(f"the archive has format version {manifest.format_version}, newer than this Qualia's "
                           f"{FORMAT_VERSION}: upgrade Qualia to read it")
    seen: set[str] = set()
    for entry in manifest.files:
        if safe_relative(entry.path) is None:
            raise BadManifest(f"{MANIFEST_NAME} lists an unsafe path {entry.path!r}")
        if entry.path in seen:
            raise BadManifest(f"{MANIFEST_NAME} lists {entry.path!r} twice")
        seen.add(entry.path)
    return manifest


def default_backup_dir(home: Path) -> Path:
    return home / DEFAULT_DIR_NAME


def archive_time(name: str) -> tuple[dt.datetime, int] | None:
    """The UTC creation time in an archive's name (and its same-second counter), or None."""
    match = ARCHIVE_RE.match(name)
    if match is None:
        return None
    when = dt.datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=dt.timezone.utc)
    return when, int(match.group(2) or 0)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def qualia_version() -> str:
    return __version__


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def safe_relative(text: str) -> PurePosixPath | None:
    """A manifest path that stays inside the folder it is extracted into, or None."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or "\\" in text or "\x00" in text:
        return None
    if any(part in ("", ".", "..") for part in text.split("/")):
        return None
    return path


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
