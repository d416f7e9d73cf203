"""`restore_backup`: replace QUALIA_HOME with an archive's contents, all or nothing.

A restore verifies first, extracts into a fresh folder beside QUALIA_HOME
(re-checking every checksum), then swaps the folders with two renames. The old
home is deleted only after the new one is in place; any failure before that
puts the old one back, so a failed restore leaves the data as it was.
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import msgspec

from .format import SQLITE_HEADER, BackupError, BackupUsageError, default_backup_dir, fsync_dir, inside
from .reader import WriteError, scan_archive
from .verify import verify_backup

__all__ = ["RestoreResult", "restore_backup"]


class RestoreResult(msgspec.Struct, kw_only=True):
    archive: str
    home: str
    files: int
    replaced: bool
    """True if an existing QUALIA_HOME was replaced."""
    warnings: list[str] = []


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
    carry = backup_dir if inside(backup_dir, home) else None
    if home.exists() and not home.is_dir():
        raise BackupUsageError(f"QUALIA_HOME {home} exists and is not a folder")
    real_archive = Path(os.path.realpath(archive))
    if inside(real_archive, home) and not (carry is not None and inside(real_archive, carry)):
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
        raise BackupError(f"{archive} failed verification, nothing was restored:\n  - "
                          + "\n  - ".join(report.problems))

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
        scan = scan_archive(archive, extract_to=staging)
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
        if isinstance(exc, (WriteError, OSError)):
            raise BackupError(f"restore failed, {home} is unchanged: {exc}") from exc
        raise
    fsync_dir(parent)
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
        if carry is not None and inside(carry, entry) and entry.is_dir() and not entry.is_symlink():
            if _has_data(entry, carry):
                return True
            continue
        return True
    return False


def _fsync_tree(root: Path) -> None:
    """Files were fsynced as written; make their directory entries durable too."""
    for folder, _, _ in os.walk(root):
        fsync_dir(Path(folder))


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
            if inside(path, home) and _looks_like_database(path):
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
