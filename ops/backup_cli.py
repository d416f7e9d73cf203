"""`qualia backup create|list|verify|restore|prune`: the command line of `ops.backup`.

Plugged into `qualia` from outside through the entry point
`qualia.commands: backup = qualia.ops.backup_cli:COMMAND` (pyproject.toml); the
CLI never imports this module by name. Exit codes follow the CLI: 0 success, 1 a failure while working (a
damaged archive, a failed restore), 2 a usage error (no such archive,
QUALIA_HOME not empty without --force). Results go to stdout (`create` prints
only the archive's path, for scripts), messages to stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import msgspec

from qualia.kernel import Command, Settings

from .backup import (
    create_backup,
    default_backup_dir,
    find_archive,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)

__all__ = ["COMMAND", "add_backup_parser", "backup_dir_for", "run_backup_command"]

BACKUP_DIR_ENV = "QUALIA_BACKUP_DIR"


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def add_backup_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add `backup` and its subcommands to the `qualia` parser's subcommands."""
    backup = commands.add_parser(
        "backup", help="back up, verify, restore and prune QUALIA_HOME",
        description="Consistent, verifiable archives of the data directory (QUALIA_HOME): SQLite databases are "
                    "copied with SQLite's online backup API, so `create` is safe while the server runs.")
    sub = backup.add_subparsers(dest="backup_command", required=True, metavar="SUBCOMMAND")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--dir", dest="backup_dir", type=Path, metavar="DIR",
                       help=f"backup folder (env {BACKUP_DIR_ENV}, default QUALIA_HOME/backups)")

    create = sub.add_parser("create", parents=[where], help="write a new archive",
                            description="Snapshot QUALIA_HOME into DIR/qualia-backup-<UTC time>.tar.gz (with a "
                                        "manifest of sizes, SHA-256 checksums and each database's integrity_check) "
                                        "and print its path. Exit 1 if a database was already damaged (the archive "
                                        "is kept).")
    create.add_argument("--json", action="store_true", help="print the result and manifest as JSON")

    listing = sub.add_parser("list", parents=[where], help="list archives",
                             description="List the archives in DIR, oldest first, with date, size, file count and "
                                         "what the last `verify` found.")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    verify = sub.add_parser("verify", parents=[where], help="check an archive",
                            description="Read the whole archive and check the manifest, every file's size and "
                                        "checksum. Exit 1, naming what is wrong, if it is damaged or truncated.")
    verify.add_argument("archive", metavar="ARCHIVE", help="a path, a file name in DIR, or 'latest'")
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    restore = sub.add_parser("restore", parents=[where], help="replace QUALIA_HOME with an archive",
                             description="Verify ARCHIVE, extract it beside QUALIA_HOME, then swap the folders; on "
                                         "any failure the current data stays as it was. Stop the server first. A "
                                         "backup folder inside QUALIA_HOME is kept.")
    restore.add_argument("archive", metavar="ARCHIVE", help="a path, a file name in DIR, or 'latest'")
    restore.add_argument("--force", action="store_true", help="replace a QUALIA_HOME that holds data")

    prune = sub.add_parser("prune", parents=[where], help="delete old archives",
                           description="Delete archives older than --keep-days (by the time in their names), "
                                       "except the --keep-last newest, and leftovers of interrupted runs.")
    prune.add_argument("--keep-days", type=_non_negative_float, default=30.0, metavar="DAYS",
                       help="keep archives younger than this (default 30)")
    prune.add_argument("--keep-last", type=_non_negative_int, default=1, metavar="N",
                       help="always keep the N newest archives, whatever their age (default 1)")
    prune.add_argument("--dry-run", action="store_true", help="print what would go, delete nothing")
    return backup


def backup_dir_for(args: argparse.Namespace, settings: Settings) -> Path:
    if getattr(args, "backup_dir", None) is not None:
        return Path(args.backup_dir)
    if os.environ.get(BACKUP_DIR_ENV):
        return Path(os.environ[BACKUP_DIR_ENV])
    return default_backup_dir(settings.home)


def run_backup_command(args: argparse.Namespace, settings: Settings) -> int:
    """BackupError (a QualiaError) propagates: the CLI prints it and exits with its `exit_code`."""
    return _COMMANDS[args.backup_command](args, settings, backup_dir_for(args, settings))


def _json(value: object) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode("utf-8")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _create(args: argparse.Namespace, settings: Settings, backup_dir: Path) -> int:
    result = create_backup(settings.home, backup_dir)
    manifest = result.manifest
    if args.json:
        print(_json(result))
    else:
        print(result.archive)
        print(f"backed up {len(manifest.files)} files ({len(manifest.databases)} SQLite databases) from "
              f"{manifest.home}: {_size(result.size)}", file=sys.stderr)
    for skipped in manifest.skipped:
        if not skipped.reason.startswith("SQLite journal"):
            print(f"qualia: note: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    damaged = result.damaged_databases
    for entry in damaged:
        print(f"qualia: error: database {entry.path} failed integrity_check: {entry.integrity_check} "
              f"(archived as it is in {result.archive})", file=sys.stderr)
    return 1 if damaged else 0


def _list(args: argparse.Namespace, settings: Settings, backup_dir: Path) -> int:
    rows = list_backups(backup_dir)
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print(f"no backups in {backup_dir}")
        return 0
    table = [("ARCHIVE", "CREATED (UTC)", "SIZE", "FILES", "VERIFIED")]
    for row in rows:
        verified = row.verified + (f" {row.verified_at}" if row.verified_at else "")
        files = str(row.files) if row.files is not None else f"? ({row.error})"
        table.append((row.name, row.created_at or "?", _size(row.size), files, verified))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join([cell.ljust(width) for cell, width in zip(line, widths)] + [line[-1]]).rstrip())
    return 0


def _verify(args: argparse.Namespace, settings: Settings, backup_dir: Path) -> int:
    archive = find_archive(args.archive, backup_dir)
    report = verify_backup(archive)
    if args.json:
        print(_json(report))
    elif report.ok:
        print(f"ok: {archive}: {report.files} files, sizes and checksums match")
    for warning in report.warnings:
        print(f"qualia: warning: {warning}", file=sys.stderr)
    if not report.ok:
        print(f"qualia: error: {archive} failed verification:", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


def _restore(args: argparse.Namespace, settings: Settings, backup_dir: Path) -> int:
    archive = find_archive(args.archive, backup_dir)
    result = restore_backup(archive, settings.home, backup_dir=backup_dir, force=args.force)
    for warning in result.warnings:
        print(f"qualia: warning: {warning}", file=sys.stderr)
    print(f"restored {result.files} files from {result.archive} into {result.home}")
    return 0


def _prune(args: argparse.Namespace, settings: Settings, backup_dir: Path) -> int:
    removed = prune_backups(backup_dir, keep_days=args.keep_days, keep_last=args.keep_last, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    if not removed:
        print(f"nothing to prune in {backup_dir}")
    return 0


_COMMANDS = {
    "create": _create,
    "list": _list,
    "verify": _verify,
    "restore": _restore,
    "prune": _prune,
}

COMMAND = Command("backup", add_backup_parser, run_backup_command)
