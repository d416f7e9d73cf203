"""Content-addressed result cache, stored in one SQLite file.

A result is fully determined by the plugin (id, version and the hash of its
code: an edit without a version bump must not be answered from the cache), its
config, and what it was given (document and inputs), so the sha256 of a
canonical encoding of those is the key; a hit lets the kernel skip a child-process round trip.

The file lives in the data directory and is shared: several kernels (and
worker processes) may open it at once. It is opened through `sqlite.Database`
(WAL mode, a busy timeout, short write transactions that begin IMMEDIATE,
schema versioning); a corrupt file is moved aside and a fresh cache started,
since every entry can be recomputed. Eviction re-reads the shared totals in
every transaction so racing evictors never over-delete.

The API is synchronous on purpose: a get of a few KB takes microseconds, far
less than handing it to a thread would cost. An instance holds one
connection and no global state; open one per process (never share an
instance across `fork`). Values are opaque bytes; decoding is the caller's job.
"""
from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from .errors import CacheError
from .sqlite import Database, Schema, is_busy, transaction

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheError",
    "CacheStats",
    "ResultCache",
    "cache_key",
]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
SCHEMA_VERSION = 1
"""Stored in `PRAGMA user_version`; bump it and add a step to `_MIGRATIONS`."""
APPLICATION_ID = 0x5175_6143  # "QuaC": tells our file from any other SQLite file
KEY_FORMAT = "qualia-cache-key/2"
"""Hashed into every key, so changing how keys are built invalidates old ones."""

EVICT_TO = 0.9
"""Eviction frees down to this fraction of max_bytes, so it runs rarely."""
EVICT_BATCH = 256
"""Rows examined per eviction transaction: keeps each write lock short."""
TOUCH_INTERVAL_S = 1.0
"""A hit rewrites last_used only if it is older than this: most hits stay reads."""
BUSY_TIMEOUT_S = 5.0

_KEY_ENCODER = msgspec.json.Encoder(order="sorted")  # stateless and thread-safe



class CacheStats(msgspec.Struct, kw_only=True):
    """A snapshot for /health and /metrics.

    `entries` and `bytes` are read from the file, so they cover every process
    sharing it. `hits`, `misses` and `evictions` count this instance only
    (since it was opened): persisting them would turn every get into a write.
    `bytes` counts stored values only; the file itself is somewhat larger
    (keys, indexes, page slack).
    """

    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int
    path: str


def cache_key(
    plugin_id: str,
    plugin_version: str,
    config: dict[str, Any],
    document: Any,
    inputs: dict[str, Any],
    code_hash: str = "",
) -> str:
    """Return the sha256 hex key of one plugin run.

    `code_hash` is the hash of the plugin's files (`Registry.code_hash`), computed
    once when its manifest is loaded.

    The parts are hashed as one JSON array with dict keys and Struct fields
    sorted, so key order never matters and no two different runs can collide
    by concatenation. A `Document` and its `msgspec.to_builtins` form give the
    same key. Values are compared as JSON: 1 and 1.0 differ, so the kernel
    should hash config after validating (normalising) it.
    """
    encoded = _KEY_ENCODER.encode(
        [KEY_FORMAT, plugin_id, plugin_version, code_hash, config, document, inputs]
    )
    return hashlib.sha256(encoded).hexdigest()


_SCHEMA_V1 = """
CREATE TABLE entries (
    key       TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    size      INTEGER NOT NULL,
    created   REAL NOT NULL,
    last_used REAL NOT NULL,
    value     BLOB NOT NULL        -- last: reading the other columns skips the blob
);
CREATE INDEX entries_by_last_used ON entries (last_used);
CREATE INDEX entries_by_plugin ON entries (plugin_id);

-- Running totals, kept exact by triggers in the same transaction as the change,
-- so the size check after a put is O(1) rather than a SUM over every row.
CREATE TABLE totals (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
INSERT INTO totals (id, entries, bytes) VALUES (1, 0, 0);
CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 1;
END;
CREATE TRIGGER entries_resize AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes + NEW.size - OLD.size WHERE id = 1;
END;
"""

_MIGRATIONS: dict[int, str] = {}
"""SQL that takes the schema from version N to N + 1 (none yet)."""

SCHEMA = Schema(name="result cache", application_id=APPLICATION_ID, version=SCHEMA_VERSION, create=_SCHEMA_V1,
                migrations=_MIGRATIONS, advice="move it away or point the cache elsewhere")

_SELECT = "SELECT last_used, value FROM entries WHERE key = ?"
_TOUCH = "UPDATE entries SET last_used = ? WHERE key = ? AND last_used < ?"
# An UPSERT, not INSERT OR REPLACE: REPLACE deletes without firing the delete
# trigger (unless recursive triggers are on), which would corrupt the totals.
_UPSERT = """
INSERT INTO entries (key, plugin_id, size, created, last_used, value)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    plugin_id = excluded.plugin_id, size = excluded.size,
    last_used = excluded.last_used, value = excluded.value
"""
_TOTALS = "SELECT entries, bytes FROM totals WHERE id = 1"
_LRU_BATCH = """
SELECT rowid, size FROM entries WHERE key != ?
ORDER BY last_used, rowid LIMIT ?
"""


class ResultCache:
    """A bounded, LRU-evicted map from cache key to result bytes in SQLite.

    Thread-safe (one lock around the connection) so the kernel may also call
    it from `asyncio.to_thread`; process-safe through SQLite's own locking.
    `max_bytes` is this instance's limit, enforced on its own puts.
    """

    def __init__(
        self,
        path: Path | str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        touch_interval: float = TOUCH_INTERVAL_S,
        busy_timeout: float = BUSY_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating if needed) the cache file at `path`.

        `clock` must be wall-clock seconds (it is compared across processes
        and restarts); tests pass a fake one to make LRU order exact.
        """
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self._max_bytes = max_bytes
        self._touch_interval = touch_interval
        self._clock = clock
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        # NORMAL is durable against application crashes in WAL mode; losing the last puts on
        # power loss is fine for a cache, and so is starting empty when the file is corrupt.
        self._db = Database(path, SCHEMA, error_class=CacheError, busy_timeout=busy_timeout, synchronous="NORMAL",
                            on_corrupt="move_aside")

    # ---- public API ---------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def get(self, key: str) -> bytes | None:
        """Return the stored value, or None; a hit refreshes its LRU time.

        The refresh is skipped when last_used is recent, and when the file is
        write-locked past the busy timeout: a stale LRU time is harmless.
        """
        with self._db.read("get") as db:
            row = db.execute(_SELECT, (key,)).fetchone()
            if row is None:
                self._misses += 1
                return None
            last_used, value = row
            now = self._clock()
            if now - last_used >= self._touch_interval:
                try:
                    db.execute(_TOUCH, (now, key, now))
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise
            self._hits += 1
            return value

    def put(self, key: str, plugin_id: str, value: bytes) -> bool:
        """Store `value` under `key`; return False if it is too big to keep.

        A value over max_bytes would evict everything else and still not fit,
        so it is skipped. If the put takes the total over max_bytes, least
        recently used entries (never this one) go until it is at EVICT_TO.
        """
        size = len(value)
        if size > self._max_bytes:
            return False
        with self._db.read("put") as db:
            now = self._clock()
            with transaction(db):
                db.execute(_UPSERT, (key, plugin_id, size, now, now, value))
                _, total = db.execute(_TOTALS).fetchone()
            if total > self._max_bytes:
                self._evict(db, keep=key)
            return True

    def clear(self, plugin_id: str | None = None) -> int:
        """Delete every entry, or those of one plugin; return how many went."""
        with self._db.write("clear") as db:
            if plugin_id is None:
                cursor = db.execute("DELETE FROM entries")
            else:
                cursor = db.execute("DELETE FROM entries WHERE plugin_id = ?", (plugin_id,))
            return cursor.rowcount

    def stats(self) -> CacheStats:
        with self._db.read("stats") as db:
            entries, total = db.execute(_TOTALS).fetchone()
        return CacheStats(
            entries=entries,
            bytes=total,
            max_bytes=self._max_bytes,
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            path=str(self._db.path),
        )

    def close(self) -> None:
        """Close the connection; safe to call twice. The last closer folds the WAL back."""
        self._db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------

    def _evict(self, db: sqlite3.Connection, keep: str) -> None:
        """Delete least recently used rows until the total is at EVICT_TO.

        Each batch is its own transaction that re-reads the shared total, so
        if another process evicted meanwhile this one stops early rather than
        deleting twice as much. Busy means another writer is active: leave
        the rest to the next put rather than fail a put that already succeeded.
        """
        target = int(self._max_bytes * EVICT_TO)
        try:
            while True:
                with transaction(db):
                    _, total = db.execute(_TOTALS).fetchone()
                    if total <= target:
                        return
                    victims: list[tuple[int]] = []
                    for rowid, size in db.execute(_LRU_BATCH, (keep, EVICT_BATCH)).fetchall():
                        victims.append((rowid,))
                        total -= size
                        if total <= target:
                            break
                    if not victims:
                        return  # only `keep` is left
                    db.executemany("DELETE FROM entries WHERE rowid = ?", victims)
                self._evictions += len(victims)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
