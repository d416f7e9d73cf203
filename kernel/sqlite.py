"""Opening the kernel's SQLite files (cache, jobs): WAL mode, shared by several processes."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(path: Path, *, busy_timeout: float, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection in WAL mode with explicit transactions (`isolation_level=None`).

    Switching a new file to WAL takes an exclusive lock and SQLite does not call
    the busy handler for it, so several processes opening the same new file at
    once get "database is locked": retry until `busy_timeout`.
    """
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    try:
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        db.execute(f"PRAGMA synchronous = {synchronous}")
    except sqlite3.Error:
        db.close()
        raise
    return db
