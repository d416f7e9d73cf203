"""`create_backup`: a consistent archive of a live QUALIA_HOME.

- SQLite databases (found by their 16-byte header, whatever their name) are
  copied with SQLite's online backup API in one step, that is inside one read
  transaction: a consistent snapshot even while the server writes (WAL mode
  readers never block writers). Their `-wal`, `-shm` and `-journal` files are
  not copied: the snapshot already holds every committed transaction.
- Every other file (plugin state, config, logs) is copied as it is.
- The backup folder itself is skipped when it lies inside QUALIA_HOME.

Everything is first copied into a staging folder inside the backup folder,
checksummed there (SHA-256) and `PRAGMA integrity_check`ed, then written to a
temporary file that is renamed into place: a crash never leaves a partial
archive under a final name.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import shutil
import socket
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

import msgspec

from .format import (ARCHIVE_PREFIX, ARCHIVE_SUFFIX, CHUNK, COMPRESS_LEVEL, DATA_PREFIX, FORMAT, FORMAT_VERSION,
                     MANIFEST_NAME, SIDE_SUFFIXES, SQLITE_HEADER, SQLITE_TIMEOUT_S, TEMP_PREFIX, TIMESTAMP_FORMAT,
                     BackupError, BackupManifest, BackupUsageError, FileEntry, Skipped, default_backup_dir, fsync_dir,
                     iso, qualia_version, utc_now)

__all__ = ["CreateResult", "create_backup"]

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class CreateResult(msgspec.Struct, kw_only=True):
    archive: str
    size: int
    manifest: BackupManifest

    @property
    def damaged_databases(self) -> list[FileEntry]:
        return [entry for entry in self.manifest.databases if entry.integrity_check != "ok"]


def create_backup(home: Path, backup_dir: Path | None = None, *, now: dt.datetime | None = None) -> CreateResult:
    """Snapshot `home` into a new archive in `backup_dir`; safe while the server runs."""
    home = Path(os.path.realpath(home.expanduser()))
    if not home.is_dir():
        raise BackupUsageError(f"QUALIA_HOME {home} does not exist or is not a folder: nothing to back up")
    backup_dir = Path(os.path.realpath((backup_dir or default_backup_dir(home)).expanduser()))
    if backup_dir == home:
        raise BackupUsageError(f"the backup folder must not be QUALIA_HOME itself ({home}); use a folder inside "
                               "or outside it")
    try:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {backup_dir}: {exc}") from exc
    when = now or utc_now()
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "create-", dir=backup_dir))
    temp_archive: Path | None = None
    try:
        files, skipped = _snapshot(home, staging, exclude=backup_dir)
        if not files:
            raise BackupUsageError(f"QUALIA_HOME {home} holds no files to back up (is QUALIA_HOME set right?)")
        manifest = BackupManifest(format=FORMAT, format_version=FORMAT_VERSION, created_at=iso(when),
                                  qualia_version=qualia_version(), hostname=socket.gethostname(),
                                  home=str(home), files=files, skipped=skipped)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=ARCHIVE_SUFFIX, dir=backup_dir)  # mode 0600
        temp_archive = Path(name)
        with os.fdopen(fd, "wb") as raw:
            _write_archive(raw, manifest, staging, when)
            raw.flush()
            os.fsync(raw.fileno())
        final = _publish(temp_archive, backup_dir, when)
        temp_archive = None
        fsync_dir(backup_dir)
    except OSError as exc:
        raise BackupError(f"backup of {home} failed: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if temp_archive is not None:
            temp_archive.unlink(missing_ok=True)
    return CreateResult(archive=str(final), size=final.stat().st_size, manifest=manifest)


def _snapshot(home: Path, staging: Path, exclude: Path) -> tuple[list[FileEntry], list[Skipped]]:
    files: list[FileEntry] = []
    skipped: list[Skipped] = []
    for relative, source, info in _walk(home, exclude, skipped):
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(source, "rb") as handle:
                is_sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
        except FileNotFoundError:
            skipped.append(Skipped(path=relative, reason="removed while the backup ran"))
            continue
        except OSError as exc:
            raise BackupError(f"cannot read {source}: {exc}") from exc
        mode = stat.S_IMODE(info.st_mode)
        if is_sqlite:
            try:
                integrity = _backup_sqlite(source, target)
                digest, size = _hash_file(target)
            except _Vanished:
                skipped.append(Skipped(path=relative, reason="removed while the backup ran"))
                continue
            except _Unreadable as exc:  # keep what there is, and say so; the other databases still get backed up
                target.unlink(missing_ok=True)
                try:
                    digest, size = _copy_file(source, target)
                except FileNotFoundError:
                    skipped.append(Skipped(path=relative, reason="removed while the backup ran"))
                    continue
                integrity = f"unreadable by SQLite ({exc}); archived as a plain copy of the file"
            files.append(FileEntry(path=relative, kind="sqlite", size=size, sha256=digest, mode=mode,
                                   mtime=info.st_mtime, integrity_check=integrity))
        else:
            try:
                digest, size = _copy_file(source, target)
            except FileNotFoundError:
                skipped.append(Skipped(path=relative, reason="removed while the backup ran"))
                continue
            files.append(FileEntry(path=relative, kind="file", size=size, sha256=digest, mode=mode,
                                   mtime=info.st_mtime))
    return files, skipped


def _walk(home: Path, exclude: Path, skipped: list[Skipped]) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Regular files under `home`, sorted, as (relative posix path, path, lstat); symlinks are not followed."""
    pending = [home]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BackupError(f"cannot list {folder}: {exc}") from exc
        names = {entry.name for entry in entries}
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            relative = path.relative_to(home).as_posix()
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(Skipped(path=repr(relative), reason="the name is not valid UTF-8"))
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if path == exclude:  # the backups themselves
                    continue
                subfolders.append(path)
            elif stat.S_ISLNK(info.st_mode):
                skipped.append(Skipped(path=relative, reason="symbolic link (not followed)"))
            elif not stat.S_ISREG(info.st_mode):
                skipped.append(Skipped(path=relative, reason="not a regular file"))
            elif _is_side_file(entry.name, names):
                skipped.append(Skipped(path=relative, reason="SQLite journal of a database copied through the "
                                                            "backup API"))
            else:
                yield relative, path, info
        pending.extend(reversed(subfolders))


def _is_side_file(name: str, siblings: set[str]) -> bool:
    return any(name.endswith(suffix) and name[: -len(suffix)] in siblings for suffix in SIDE_SUFFIXES)


class _Vanished(Exception):
    pass


class _Unreadable(Exception):
    """SQLite says the file is corrupt or not a database."""


def _backup_sqlite(source: Path, target: Path) -> str:
    """Copy a live database with the online backup API; return integrity_check of the copy."""
    # mode=rw: never create an empty database where one was just removed.
    uri = f"file:{quote(str(source))}?mode=rw"
    try:
        src = sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S, isolation_level=None)
    except sqlite3.OperationalError as exc:
        if not source.exists():
            raise _Vanished() from exc
        raise BackupError(f"cannot open database {source}: {exc}") from exc
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            # pages=-1: every page in one step, inside one read transaction, so the copy
            # is one consistent state of the database however busy its writers are.
            src.backup(dst, pages=-1)
            rows = dst.execute("PRAGMA integrity_check").fetchall()
            if dst.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise _Unreadable(str(exc)) from exc
        raise BackupError(f"cannot back up database {source}: {exc}") from exc
    finally:
        src.close()
    for suffix in ("-wal", "-shm"):  # emptied by the checkpoint; the last close normally removes them
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    report = "; ".join(str(row[0]) for row in rows[:20])
    return report or "no result"


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_file(source: Path, target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(target, "xb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_archive(raw: IO[bytes], manifest: BackupManifest, staging: Path, when: dt.datetime) -> None:
    mtime = int(when.timestamp())
    # filename="" keeps the temporary file's name out of the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=mtime) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            data = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size, info.mtime, info.mode = len(data), mtime, 0o600
            tar.addfile(info, io.BytesIO(data))
            for entry in manifest.files:
                info = tarfile.TarInfo(DATA_PREFIX + entry.path)
                info.size, info.mtime, info.mode = entry.size, int(entry.mtime), entry.mode
                with open(staging / entry.path, "rb") as handle:
                    tar.addfile(info, handle)


def _publish(temp: Path, backup_dir: Path, when: dt.datetime) -> Path:
    """Give the finished archive its final name, never replacing another archive."""
    stem = ARCHIVE_PREFIX + when.astimezone(dt.timezone.utc).strftime(TIMESTAMP_FORMAT)
    for counter in range(1000):
        final = backup_dir / f"{stem}{f'-{counter}' if counter else ''}{ARCHIVE_SUFFIX}"
        try:
            os.link(temp, final)  # fails if the name is taken, unlike rename
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system
            if final.exists():
                continue
            os.replace(temp, final)
            return final
        temp.unlink()
        return final
    raise BackupError(f"too many archives named {stem}* in {backup_dir}")
