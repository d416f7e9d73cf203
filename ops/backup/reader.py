"""Reading an archive as one stream: every member checked against the manifest, optionally extracted.

A gzip error (a flipped byte fails the CRC), truncation, a tar error, a
missing or invalid manifest, files missing from the archive or not in the
manifest, and size or checksum mismatches are each reported in a sentence
naming the file. Extraction writes only below the target folder (manifest
paths are checked), never follows or replaces what is there.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .format import (CHUNK, DATA_PREFIX, MANIFEST_NAME, MAX_MANIFEST_BYTES, SQLITE_HEADER, BackupError, BackupManifest,
                     BadManifest, FileEntry, decode_manifest)

__all__ = ["Scan", "WriteError", "read_manifest", "scan_archive"]


class WriteError(Exception):
    """Extraction could not write (disk full, permissions): not the archive's fault."""


@dataclass
class Scan:
    manifest: BackupManifest | None = None
    problems: list[str] = field(default_factory=list)
    checked: int = 0


def scan_archive(archive: Path, extract_to: Path | None = None) -> Scan:
    """Read the whole archive, checking everything; write the files under `extract_to` if given."""
    result = Scan()
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
                            result.manifest = decode_manifest(handle.read())
                        except BadManifest as exc:
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
                    raise WriteError(f"cannot write {target}: {exc}") from exc
        if out is not None:
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise WriteError(f"cannot write {target}: {exc}") from exc
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
            raise WriteError(f"cannot set the mode of {target}: {exc}") from exc
    return None


def _open_target(target: Path, entry: FileEntry) -> IO[bytes]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise WriteError(f"cannot create {target}: {exc}") from exc
    return os.fdopen(fd, "wb")


def read_manifest(archive: Path) -> BackupManifest:
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
                return decode_manifest(handle.read())
    except BadManifest as exc:
        raise BackupError(str(exc)) from None
    except (EOFError, OSError, zlib.error, tarfile.TarError) as exc:
        raise BackupError(f"unreadable: {exc}") from None
