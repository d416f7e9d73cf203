"""Backups of the data directory (QUALIA_HOME): create, list, verify, restore, prune.

One module per step: `format` (names, layout, manifest, errors), `reader`
(streaming an archive, checked), `create`, `verify`, `catalog` (find, list,
prune) and `restore`. This package re-exports their public names.

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

from .catalog import BackupInfo, find_archive, list_backups, prune_backups
from .create import CreateResult, create_backup
from .format import (ARCHIVE_PREFIX, ARCHIVE_RE, ARCHIVE_SUFFIX, FORMAT_VERSION, MANIFEST_NAME, BackupError,
                     BackupManifest, BackupUsageError, FileEntry, Skipped, archive_time, default_backup_dir)
from .restore import RestoreResult, restore_backup
from .verify import VerifyReport, verify_backup

__all__ = [
    "ARCHIVE_PREFIX",
    "ARCHIVE_RE",
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
    "archive_time",
    "create_backup",
    "default_backup_dir",
    "find_archive",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]
