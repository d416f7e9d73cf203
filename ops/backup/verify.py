"""`verify_backup`: read every byte of an archive; the result is kept beside it for `list`.

The result lives in `<name>.verify.json` with the archive's size and mtime, so
`list` can tell a verified archive from one changed since.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

import msgspec

from .format import ARCHIVE_SUFFIX, STATUS_SUFFIX, TEMP_PREFIX, BackupUsageError, iso, utc_now
from .reader import scan_archive

__all__ = ["Verified", "VerifyReport", "VerifyStatus", "read_status", "status_path", "verify_backup"]


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


def verify_backup(archive: Path, *, record: bool = True) -> VerifyReport:
    """Check every byte of `archive`; with `record`, remember the result for `list`."""
    try:
        before = archive.stat()
    except OSError as exc:
        raise BackupUsageError(f"cannot read {archive}: {exc}") from exc
    scan = scan_archive(archive)
    warnings = []
    if scan.manifest is not None:
        for entry in scan.manifest.databases:
            if entry.integrity_check != "ok":
                warnings.append(f"{entry.path}: the database was already damaged when backed up "
                                f"(integrity_check: {entry.integrity_check})")
    report = VerifyReport(archive=str(archive), ok=not scan.problems, problems=scan.problems, warnings=warnings,
                          files=scan.checked, created_at=scan.manifest.created_at if scan.manifest else None,
                          checked_at=iso(utc_now()))
    if record:
        status = VerifyStatus(ok=report.ok, checked_at=report.checked_at, archive_size=before.st_size,
                              archive_mtime_ns=before.st_mtime_ns, problems=report.problems[:10])
        write_atomic(status_path(archive), msgspec.json.encode(status))  # best effort
    return report


def status_path(archive: Path) -> Path:
    name = archive.name[: -len(ARCHIVE_SUFFIX)] if archive.name.endswith(ARCHIVE_SUFFIX) else archive.name
    return archive.with_name(name + STATUS_SUFFIX)


def write_atomic(path: Path, data: bytes) -> bool:
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


def read_status(archive: Path, info: os.stat_result) -> tuple[Verified, str | None]:
    try:
        status = msgspec.json.decode(status_path(archive).read_bytes(), type=VerifyStatus)
    except (OSError, msgspec.DecodeError):
        return "unverified", None
    if status.archive_size != info.st_size or status.archive_mtime_ns != info.st_mtime_ns:
        return "changed", status.checked_at
    return ("ok" if status.ok else "failed"), status.checked_at
