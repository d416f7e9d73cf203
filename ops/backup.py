"""Backups of the data directory (QUALIA_HOME): create, list, verify, restore, prune.

An archive is a gzip-compressed tar named `qualia-backup-<UTC timestamp>.tar.gz`
(format version 1). Its first member is `MANIFEST.json`; then comes
`data/<path>` for every file, the path relative to QUALIA_HOME:

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

Verification reads the whole archive as a stream: gzip errors (a flipped byte
fails the CRC), truncation, tar errors, a missing or invalid manifest, files
missing from the archive or not in the manifest, and size or checksum
mismatches are each reported in a sentence naming the file. The result is kept
beside the archive (`<name>.verify.json`) so `list` can show it.

A restore verifies first, extracts into a fresh folder beside QUALIA_HOME
(re-checking every checksum), then swaps the folders with two renames. The old
home is deleted only after the new one is in place; any failure before that
puts the old one back, so a failed restore leaves the data as it was.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import re
import secrets
import shutil
import socket
import sqlite3
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal
from urllib.parse import quote

import msgspec

from qualia.kernel import QualiaError

__all__ = [
    "ARCHIVE_PREFIX",
    "ARCHIVE_SUFFIX",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "BackupError",
    "BackupInfo",
    "BackupManifest",
    "BackupUsageError",
    "CreateResult",
    "FileEntry",
    "RestoreResult",
    "Skipped",
    "VerifyReport",
    "create_backup",
    "default_backup_dir",
    "find_archive",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]

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
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class BackupError(QualiaError):
    """A backup operation failed; the message says what and where (exit code 1)."""

    code = "backup_failed"


class BackupUsageError(BackupError):
    """The request cannot be carried out as given (exit code 2): no such archive, home not empty."""

    status = 400
    code = "backup_usage"
    exit_code = 2


# ---- the manifest ---------------------------------------------------------------

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


# ---- results --------------------------------------------------------------------

class CreateResult(msgspec.Struct, kw_only=True):
    archive: str
    size: int
    manifest: BackupManifest

    @property
    def damaged_databases(self) -> list[FileEntry]:
        return [entry for entry in self.manifest.databases if entry.integrity_check != "ok"]


class VerifyReport(msgspec.Struct, kw_only=True):
    archive: str
    ok: bool
    problems: list[str]
    """Each names what is wrong (the archive, or a file in it)."""
    warnings: list[str] = []
    files: int = 0
    """Files whose size and checksum matched."""
    created_at: str | None = None
    checked_at: str = ""


class VerifyStatus(msgspec.Struct, kw_only=True):
    """What `verify` last found, kept beside the archive for `list`."""

    ok: bool
    checked_at: str
    archive_size: int
    archive_mtime_ns: int
    problems: list[str] = []


Verified = Literal["ok", "failed", "unverified", "changed"]


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


class RestoreResult(msgspec.Struct, kw_only=True):
    archive: str
    home: str
    files: int
    replaced: bool
    """True if an existing QUALIA_HOME was replaced."""
    warnings: list[str] = []


# ---- paths and names --------------------------------------------------------------

def default_backup_dir(home: Path) -> Path:
    return home / DEFAULT_DIR_NAME


def archive_time(name: str) -> tuple[dt.datetime, int] | None:
    """The UTC creation time in an archive's name (and its same-second counter), or None."""
    match = ARCHIVE_RE.match(name)
    if match is None:
        return None
    when = dt.datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=dt.timezone.utc)
    return when, int(match.group(2) or 0)


def _archives(backup_dir: Path) -> list[tuple[dt.datetime, int, Path]]:
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
        archives = _archives(backup_dir)
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


def _status_path(archive: Path) -> Path:
    name = archive.name[: -len(ARCHIVE_SUFFIX)] if archive.name.endswith(ARCHIVE_SUFFIX) else archive.name
    return archive.with_name(name + STATUS_SUFFIX)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _qualia_version() -> str:
    try:
        from qualia.kernel import __version__
    except ImportError:  # pragma: no cover - ops is shipped with the kernel
        return "unknown"
    return __version__


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _safe_relative(text: str) -> PurePosixPath | None:
    """A manifest path that stays inside the folder it is extracted into, or None."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or "\\" in text or "\x00" in text:
        return None
    if any(part in ("", ".", "..") for part in text.split("/")):
        return None
    return path


def _fsync_dir(path: Path) -> None:
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


# ---- create -------------------------------------------------------------------------

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
    when = now or _now()
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "create-", dir=backup_dir))
    temp_archive: Path | None = None
    try:
        files, skipped = _snapshot(home, staging, exclude=backup_dir)
        if not files:
            raise BackupUsageError(f"QUALIA_HOME {home} holds no files to back up (is QUALIA_HOME set right?)")
        manifest = BackupManifest(format=FORMAT, format_version=FORMAT_VERSION, created_at=_iso(when),
                                  qualia_version=_qualia_version(), hostname=socket.gethostname(),
                                  home=str(home), files=files, skipped=skipped)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=ARCHIVE_SUFFIX, dir=backup_dir)  # mode 0600
        temp_archive = Path(name)
        with os.fdopen(fd, "wb") as raw:
            _write_archive(raw, manifest, staging, when)
            raw.flush()
            os.fsync(raw.fileno())
        final = _publish(temp_archive, backup_dir, when)
        temp_archive = None
        _fsync_dir(backup_dir)
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


# ---- reading archives --------------------------------------------------------------

class _WriteError(Exception):
    """Extraction could not write (disk full, permissions): not the archive's fault."""


@dataclass
class _Scan:
    manifest: BackupManifest | None = None
    problems: list[str] = field(default_factory=list)
    checked: int = 0


def _decode_manifest(data: bytes) -> BackupManifest:
    try:
        manifest = msgspec.json.decode(data, type=BackupManifest)
    except msgspec.DecodeError as exc:
        raise _BadManifest(f"{MANIFEST_NAME} is not a valid manifest: {exc}") from None
    if manifest.format != FORMAT:
        raise _BadManifest(f"{MANIFEST_NAME} says format {manifest.format!r}, not {FORMAT!r}: not a Qualia backup")
    if manifest.format_version > FORMAT_VERSION:
        raise _BadManifest(f"the archive has format version {manifest.format_version}, newer than this Qualia's "
                           f"{FORMAT_VERSION}: upgrade Qualia to read it")
    seen: set[str] = set()
    for entry in manifest.files:
        if _safe_relative(entry.path) is None:
            raise _BadManifest(f"{MANIFEST_NAME} lists an unsafe path {entry.path!r}")
        if entry.path in seen:
            raise _BadManifest(f"{MANIFEST_NAME} lists {entry.path!r} twice")
        seen.add(entry.path)
    return manifest


class _BadManifest(Exception):
    pass


def _scan(archive: Path, extract_to: Path | None = None) -> _Scan:
    """Read the whole archive, checking everything; write the files under `extract_to` if given."""
    result = _Scan()
    expected: dict[str, FileEntry] = {}
    seen: set[str] = set()
    fatal = False
    try:
        with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for index, member in enumerate(tar):
                    if index == 0:
                        if member.name != MANIFEST_NAME or not member.isfile():
                            result.problems.append(f"{MANIFEST_NAME} is missing (the first member is "
                                                   f"{member.name!r}): not a Qualia backup, or damaged")
                            return result
                        if member.size > MAX_MANIFEST_BYTES:
                            result.problems.append(f"{MANIFEST_NAME} is implausibly large ({member.size} bytes)")
                            return result
                        handle = tar.extractfile(member)
                        assert handle is not None
                        try:
                            result.manifest = _decode_manifest(handle.read())
                        except _BadManifest as exc:
                            result.problems.append(str(exc))
                            return result
                        expected = {entry.path: entry for entry in result.manifest.files}
                        continue
                    problem = _check_member(tar, member, expected, seen, extract_to)
                    if problem is None:
                        result.checked += 1
                    else:
                        result.problems.append(problem)
            # Read to the very end: the gzip trailer's CRC and length catch a flipped byte
            # or a cut anywhere, even past the last member tar reads.
            while gz.read(CHUNK):
                pass
    except EOFError as exc:
        fatal = True
        result.problems.append(f"the archive is truncated ({exc})")
    except gzip.BadGzipFile as exc:
        fatal = True
        result.problems.append(f"the archive is corrupt: gzip: {exc}")
    except zlib.error as exc:
        fatal = True
        result.problems.append(f"the archive is corrupt: compressed data: {exc}")
    except tarfile.TarError as exc:
        fatal = True
        what = "compressed data" if "zlib" in str(exc) else "tar"  # tarfile rewraps zlib errors
        result.problems.append(f"the archive is corrupt: {what}: {exc}")
    except OSError as exc:
        fatal = True
        result.problems.append(f"cannot read the archive: {exc}")
    if result.manifest is None:
        if not result.problems:
            result.problems.append(f"{MANIFEST_NAME} is missing: the archive is empty")
        return result
    missing = [path for path in expected if path not in seen]
    if fatal and missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        result.problems.append(f"{len(missing)} of {len(expected)} files could not be checked: {shown}")
    else:
        result.problems += [f"{path}: listed in the manifest but missing from the archive" for path in missing]
    return result


def _check_member(tar: tarfile.TarFile, member: tarfile.TarInfo, expected: dict[str, FileEntry], seen: set[str],
                  extract_to: Path | None) -> str | None:
    name = member.name
    if not name.startswith(DATA_PREFIX):
        return f"{name}: unexpected member (not under {DATA_PREFIX})"
    path = name[len(DATA_PREFIX):]
    entry = expected.get(path)
    if entry is None:
        return f"{path}: in the archive but not in the manifest"
    if path in seen:
        return f"{path}: stored twice in the archive"
    seen.add(path)
    if not member.isfile():
        return f"{path}: not a regular file in the archive"
    handle = tar.extractfile(member)
    assert handle is not None
    digest = hashlib.sha256()
    size = 0
    head = b""
    target = None if extract_to is None else extract_to / path
    out = None if target is None else _open_target(target, entry)
    try:
        while chunk := handle.read(CHUNK):
            if len(head) < len(SQLITE_HEADER):
                head += chunk[: len(SQLITE_HEADER) - len(head)]
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _WriteError(f"cannot write {target}: {exc}") from exc
        if out is not None:
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise _WriteError(f"cannot write {target}: {exc}") from exc
    finally:
        if out is not None:
            out.close()
    if size != entry.size:
        return f"{path}: size mismatch (manifest {entry.size} bytes, archive {size} bytes)"
    if digest.hexdigest() != entry.sha256:
        return f"{path}: checksum mismatch (SHA-256 {digest.hexdigest()[:16]}..., manifest {entry.sha256[:16]}...)"
    if entry.kind == "sqlite" and head != SQLITE_HEADER:
        return f"{path}: listed as a SQLite database but is not one"
    if target is not None:
        try:
            os.chmod(target, (entry.mode & 0o777) | 0o600)
            os.utime(target, (entry.mtime, entry.mtime))
        except OSError as exc:
            raise _WriteError(f"cannot set the mode of {target}: {exc}") from exc
    return None


def _open_target(target: Path, entry: FileEntry) -> IO[bytes]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise _WriteError(f"cannot create {target}: {exc}") from exc
    return os.fdopen(fd, "wb")


def _read_manifest(archive: Path) -> BackupManifest:
    """Only the manifest (the first member): cheap, for `list`."""
    try:
        with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                member = tar.next()
                if member is None or member.name != MANIFEST_NAME or not member.isfile():
                    raise BackupError(f"{MANIFEST_NAME} is missing")
                if member.size > MAX_MANIFEST_BYTES:
                    raise BackupError(f"{MANIFEST_NAME} is implausibly large")
                handle = tar.extractfile(member)
                assert handle is not None
                return _decode_manifest(handle.read())
    except _BadManifest as exc:
        raise BackupError(str(exc)) from None
    except (EOFError, OSError, zlib.error, tarfile.TarError) as exc:
        raise BackupError(f"unreadable: {exc}") from None


# ---- verify ---------------------------------------------------------------------------

def verify_backup(archive: Path, *, record: bool = True) -> VerifyReport:
    """Check every byte of `archive`; with `record`, remember the result for `list`."""
    try:
        before = archive.stat()
    except OSError as exc:
        raise BackupUsageError(f"cannot read {archive}: {exc}") from exc
    scan = _scan(archive)
    warnings = []
    if scan.manifest is not None:
        for entry in scan.manifest.databases:
            if entry.integrity_check != "ok":
                warnings.append(f"{entry.path}: the database was already damaged when backed up "
                                f"(integrity_check: {entry.integrity_check})")
    report = VerifyReport(archive=str(archive), ok=not scan.problems, problems=scan.problems, warnings=warnings,
                          files=scan.checked, created_at=scan.manifest.created_at if scan.manifest else None,
                          checked_at=_iso(_now()))
    if record:
        status = VerifyStatus(ok=report.ok, checked_at=report.checked_at, archive_size=before.st_size,
                              archive_mtime_ns=before.st_mtime_ns, problems=report.problems[:10])
        _write_atomic(_status_path(archive), msgspec.json.encode(status))  # best effort
    return report


def _write_atomic(path: Path, data: bytes) -> bool:
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        return True
    except OSError:  # a read-only backup folder: verify still answers
        temp.unlink(missing_ok=True)
        return False


def _read_status(archive: Path, info: os.stat_result) -> tuple[Verified, str | None]:
    try:
        status = msgspec.json.decode(_status_path(archive).read_bytes(), type=VerifyStatus)
    except (OSError, msgspec.DecodeError):
        return "unverified", None
    if status.archive_size != info.st_size or status.archive_mtime_ns != info.st_mtime_ns:
        return "changed", status.checked_at
    return ("ok" if status.ok else "failed"), status.checked_at


# ---- list -------------------------------------------------------------------------------

def list_backups(backup_dir: Path) -> list[BackupInfo]:
    """Archives in `backup_dir`, oldest first, with what their manifests and last verification say."""
    rows = []
    for when, _, path in _archives(backup_dir):
        try:
            info = path.stat()
        except FileNotFoundError:  # pruned meanwhile
            continue
        verified, verified_at = _read_status(path, info)
        try:
            manifest: BackupManifest | None = _read_manifest(path)
            error = None
        except BackupError as exc:
            manifest, error = None, str(exc)
        rows.append(BackupInfo(name=path.name, path=str(path),
                               created_at=manifest.created_at if manifest else _iso(when), size=info.st_size,
                               files=len(manifest.files) if manifest else None, verified=verified,
                               verified_at=verified_at, error=error))
    return rows


# ---- prune ------------------------------------------------------------------------------

def prune_backups(backup_dir: Path, *, keep_days: float, keep_last: int = 1, now: dt.datetime | None = None,
                  dry_run: bool = False) -> list[Path]:
    """Delete archives older than `keep_days`, except the `keep_last` newest; return what went.

    The age is the creation time in the archive's name (copying a file changes
    its mtime, not its name). Files that are not archives are never touched,
    but for the leftovers of a crashed create (`.tmp-*`) older than a day.
    """
    if keep_days < 0 or keep_last < 0:
        raise BackupUsageError("--keep-days and --keep-last must not be negative")
    when = now or _now()
    cutoff = when - dt.timedelta(days=keep_days)
    archives = _archives(backup_dir)
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
            _status_path(path).unlink(missing_ok=True)
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


# ---- restore ------------------------------------------------------------------------------

def restore_backup(archive: Path, home: Path, *, backup_dir: Path | None = None, force: bool = False) -> RestoreResult:
    """Replace `home` with the archive's contents; all or nothing.

    A backup folder inside `home` is carried over into the restored home. The
    old home is deleted only once the new one is in place.
    """
    archive = archive.absolute()
    home = Path(os.path.realpath(home.expanduser()))
    backup_dir = Path(os.path.realpath((backup_dir or default_backup_dir(home)).expanduser()))
    if backup_dir == home:
        raise BackupUsageError(f"the backup folder must not be QUALIA_HOME itself ({home})")
    carry = backup_dir if _inside(backup_dir, home) else None
    if home.exists() and not home.is_dir():
        raise BackupUsageError(f"QUALIA_HOME {home} exists and is not a folder")
    real_archive = Path(os.path.realpath(archive))
    if _inside(real_archive, home) and not (carry is not None and _inside(real_archive, carry)):
        raise BackupUsageError(f"{archive} lies inside QUALIA_HOME, which the restore replaces; move it out first "
                               f"(or into the backup folder {backup_dir})")
    replacing = home.is_dir() and _has_data(home, carry)
    if replacing and not force:
        raise BackupUsageError(f"QUALIA_HOME {home} is not empty; pass --force to replace its contents with the "
                               "backup (the current data is deleted only after the restore succeeded)")
    if home.is_dir():
        users = _database_users(home)
        if users:
            raise BackupError(f"databases in {home} are open in other processes ({', '.join(users)}): stop the "
                              "Qualia server and workers before restoring")

    report = verify_backup(archive)
    if not report.ok:
        raise BackupError(f"{archive} failed verification, nothing was restored:\n  - " + "\n  - ".join(report.problems))

    parent = home.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=parent))
    except OSError as exc:
        raise BackupError(f"cannot create a folder beside {home} to restore into: {exc}") from exc
    warnings = list(report.warnings)
    old: Path | None = None
    carried_to: Path | None = None
    try:
        scan = _scan(archive, extract_to=staging)
        if scan.problems:
            raise BackupError(f"{archive} turned out damaged while it was extracted; {home} is unchanged:\n  - "
                              + "\n  - ".join(scan.problems))
        if home.is_dir():
            os.chmod(staging, stat.S_IMODE(home.stat().st_mode))
        _fsync_tree(staging)
        if carry is not None and carry.exists():
            carried_to = staging / carry.relative_to(home)
            carried_to.parent.mkdir(parents=True, exist_ok=True)
            os.rename(carry, carried_to)
        if home.exists():
            old = parent / f".{home.name}.old-{secrets.token_hex(6)}"
            os.rename(home, old)
        os.rename(staging, home)  # the restore takes effect here, and only here
    except BaseException as exc:
        _roll_back(home, staging, old, carry, carried_to)
        if isinstance(exc, (_WriteError, OSError)):
            raise BackupError(f"restore failed, {home} is unchanged: {exc}") from exc
        raise
    _fsync_dir(parent)
    if old is not None:
        try:
            shutil.rmtree(old)
        except OSError as exc:
            warnings.append(f"the previous data could not be fully deleted ({exc}); remove {old} by hand")
    assert scan.manifest is not None
    return RestoreResult(archive=str(archive), home=str(home), files=len(scan.manifest.files), replaced=replacing,
                         warnings=warnings)


def _roll_back(home: Path, staging: Path, old: Path | None, carry: Path | None, carried_to: Path | None) -> None:
    """Undo a restore that has not swapped the folders yet: the old home and its backups go back."""
    errors = []
    if old is not None and old.exists() and not home.exists():
        try:
            os.rename(old, home)
        except OSError as exc:
            errors.append(f"move {old} back to {home}: {exc}")
    if carry is not None and carried_to is not None and carried_to.exists() and not carry.exists():
        try:
            carry.parent.mkdir(parents=True, exist_ok=True)
            os.rename(carried_to, carry)
        except OSError as exc:
            errors.append(f"move {carried_to} back to {carry}: {exc}")
    if errors:  # keep the staging folder: it may hold the backups
        raise BackupError("restore failed and could not be rolled back; do by hand: " + "; ".join(errors))
    shutil.rmtree(staging, ignore_errors=True)


def _has_data(folder: Path, carry: Path | None) -> bool:
    """Anything in `folder` but the backup folder (and the folders leading to it)."""
    for entry in folder.iterdir():
        if carry is not None and entry == carry:
            continue
        if carry is not None and _inside(carry, entry) and entry.is_dir() and not entry.is_symlink():
            if _has_data(entry, carry):
                return True
            continue
        return True
    return False


def _fsync_tree(root: Path) -> None:
    """Files were fsynced as written; make their directory entries durable too."""
    for folder, _, _ in os.walk(root):
        _fsync_dir(Path(folder))


def _database_users(home: Path) -> list[str]:
    """Other processes holding a SQLite database (or its WAL) under `home` open."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a kernel dependency
        return []
    me = os.getpid()
    users = []
    for proc in psutil.process_iter(["name"]):
        if proc.pid == me:
            continue
        try:
            paths = [Path(item.path) for item in proc.open_files()]
        except (psutil.Error, OSError):
            continue
        for path in paths:
            if _inside(path, home) and _looks_like_database(path):
                users.append(f"{proc.info['name']} (pid {proc.pid}) has {path.relative_to(home)}")
                break
    return users


def _looks_like_database(path: Path) -> bool:
    if path.name.endswith(("-wal", "-shm", "-journal")):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False
