"""Backups of the data directory (QUALIA_HOME): create, list, verify, restore, prune.

One module per step: `format` (names, layout, manifest, errors), `reader`
(streaming an archive, checked), `create`, `verify`, `catalog` (find, list,
prune) and `restore`. This package re-exports their public names.

An archive is a gzip-compressed tar named `qualia-backup-<UTC timestamp>.tar.gz`
(format version 1). Its first member is `MANIFEST.json`; then comes
`data/<path>` for every file, the path relative to QUALIA_HOME.

How `create` takes a consistent snapshot of a live QUALIA_HOME (SQLite's online backup API, staging,
checksums, atomic rename) is told in `create.py`.

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
