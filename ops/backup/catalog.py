"""The backup folder: finding an archive by name, listing archives, pruning old ones."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import msgspec

from .format import (STALE_TEMP_S, TEMP_PREFIX, BackupError, BackupManifest, BackupUsageError, archive_time, iso,
                     utc_now)
from .reader import read_manifest
from .verify import Verified, read_status, status_path

__all__ = ["BackupInfo", "archives_in", "find_archive", "list_backups", "prune_backups"]


class BackupInfo(msgspec.Struct, kw_only=True):
    name: str
    path: str
    created_at: str | None
    size: int
    files: int | None
    verified: Verified
    """`changed`: the archive was modified after it was last verified."""
    verified_at: str | None = None
    error: str | None = None
    """Why the manifest could not be read, if it could not."""


def archives_in(backup_dir: Path) -> list[tuple[dt.datetime, int, Path]]:
    """Archives in the folder, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = []
    for path in backup_dir.iterdir():
        parsed = archive_time(path.name)
        if parsed is not None and path.is_file():
            found.append((parsed[0], parsed[1], path))
    return sorted(found, key=lambda item: (item[0], item[1]))


def find_archive(text: str, backup_dir: Path) -> Path:
    """An archive named on the command line: a path, a name in the backup folder, or `latest`."""
    if text == "latest":
        archives = archives_in(backup_dir)
        if not archives:
            raise BackupUsageError(f"no backup archives in {backup_dir}")
        return archives[-1][2]
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate.absolute()
    if not candidate.is_absolute() and (backup_dir / text).is_file():
        return (backup_dir / text).absolute()
    if candidate.exists():
        raise BackupUsageError(f"{candidate} is not a file")
    raise BackupUsageError(f"no backup archive {text!r} (not a file, nor in {backup_dir})")


def list_backups(backup_dir: Path) -> list[BackupInfo]:
    """Archives in `backup_dir`, oldest first, with what their manifests and last verification say."""
    rows = []
    for when, _, path in archives_in(backup_dir):
        try:
            info = path.stat()
        except FileNotFoundError:  # pruned meanwhile
            continue
        verified, verified_at = read_status(path, info)
        try:
            manifest: BackupManifest | None = read_manifest(path)
            error = None
        except BackupError as exc:
            manifest, error = None, str(exc)
        rows.append(BackupInfo(name=path.name, path=str(path),
                               created_at=manifest.created_at if manifest else iso(when), size=info.st_size,
                               files=len(manifest.files) if manifest else None, verified=verified,
                               verified_at=verified_at, error=error))
    return rows


def prune_backups(backup_dir: Path, *, keep_days: float, keep_last: int = 1, now: dt.datetime | None = None,
                  dry_run: bool = False) -> list[Path]:
    """Delete archives older than `keep_days`, except the `keep_last` newest; return what went.

    The age is the creation time in the archive's name (copying a file changes
    its mtime, not its name). Files that are not archives are never touched,
    but for the leftovers of a crashed create (`.tmp-*`) older than a day.
    """
    if keep_days < 0 or keep_last < 0:
        raise BackupUsageError("--keep-days and --keep-last must not be negative")
    when = now or utc_now()
    cutoff = when - dt.timedelta(days=keep_days)
    archives = archives_in(backup_dir)
    kept = {path for _, _, path in archives[len(archives) - keep_last:]} if keep_last else set()
    removed: list[Path] = []
    for created, _, path in archives:
        if created >= cutoff or path in kept:
            continue
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BackupError(f"cannot delete {path}: {exc}") from exc
            status_path(path).unlink(missing_ok=True)
        removed.append(path)
    if backup_dir.is_dir():
        for leftover in backup_dir.iterdir():
            if not leftover.name.startswith(TEMP_PREFIX):
                continue
            try:
                age = when.timestamp() - leftover.lstat().st_mtime
            except FileNotFoundError:
                continue
            if age < STALE_TEMP_S:
                continue  # may belong to a create running now
            if not dry_run:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed
