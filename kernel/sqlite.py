"""One way to open and use the kernel's SQLite files (the result cache, the job store).

`Database` is what both stores hold: it opens the file in WAL mode (shared by
several processes: readers never block the writer), checks or creates its
schema, and runs every statement under one lock with errors translated into
the store's own `StorageError` (naming the file and what to do about it).

- **Opening.** `connect_wal` retries the switch to WAL ("database is locked"
  when several processes open a new file at once).
- **Schema versioning.** `PRAGMA application_id` tells our file from any
  other SQLite file (a foreign file is refused, never touched);
  `PRAGMA user_version` holds the schema version. A new file gets the current
  schema, an older one its migrations, one step per version, in one write
  transaction; a newer one is refused (upgrade the kernel). The state is read
  in one snapshot, and rechecked under the write lock, because another process
  may be creating the same file right now.
- **Corruption.** A file SQLite reports as corrupt or not a database is named
  in the error with advice; with `on_corrupt="move_aside"` (the cache, whose
  content can be recomputed) it is renamed `<name>.corrupt-<UTC time>` with its
  -wal/-shm files, logged as a WARNING, and a fresh file takes its place.
- **Transactions.** `write()` is one short transaction that begins IMMEDIATE,
  so the busy timeout applies instead of a lock-upgrade deadlock; `read()`
  runs statements under the lock without one. Both are synchronous on purpose:
  each call is a few small statements, far cheaper than a thread hop.
"""
from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import StorageError

__all__ = ["Database", "Schema", "connect_wal", "enable_wal", "is_busy", "is_corrupt", "split_sql", "transaction"]

log = logging.getLogger("qualia.sqlite")

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26
SIDE_FILES = ("-wal", "-shm", "-journal")


def connect_wal(path: Path, *, busy_timeout: float, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection in WAL mode with explicit transactions (`isolation_level=None`)."""
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        enable_wal(db, busy_timeout=busy_timeout, synchronous=synchronous)
    except sqlite3.Error:
        db.close()
        raise
    return db


def enable_wal(db: sqlite3.Connection, *, busy_timeout: float, synchronous: str = "NORMAL") -> None:
    """Switch to WAL mode.

    Switching a new file to WAL takes an exclusive lock and SQLite does not call
    the busy handler for it, so several processes opening the same new file at
    once get "database is locked": retry until `busy_timeout`.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
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


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock past the busy timeout."""
    return _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)


def is_corrupt(exc: sqlite3.Error) -> bool:
    """SQLite says the file is damaged, or not a database at all."""
    return _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, IMMEDIATE: it takes the write lock up front, so the busy timeout
    applies instead of the deadlock-avoiding SQLITE_BUSY a later lock upgrade would get."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def split_sql(script: str) -> list[str]:
    """Statements one by one, trigger bodies whole (`executescript` would commit the open transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        code = line.split("--", 1)[0]
        if not code.strip():
            continue
        buffer += code.rstrip() + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


@dataclass(frozen=True)
class Schema:
    """What a store's file holds: its identity, its version, how to create it and how to upgrade it."""

    name: str  # "result cache", "job store": named in messages ("not a Qualia result cache")
    application_id: int
    version: int
    create: str  # SQL creating the current version in an empty file
    migrations: dict[int, str] = field(default_factory=dict)  # from version N to N + 1
    advice: str = "move it away"  # what a foreign file's message suggests


class Database:
    """An open store file: one connection, one lock, errors as `error_class` naming the file."""

    def __init__(self, path: Path | str, schema: Schema, *, error_class: type[StorageError] = StorageError,
                 busy_timeout: float = 5.0, synchronous: str = "NORMAL", pragmas: tuple[str, ...] = (),
                 on_corrupt: Literal["raise", "move_aside"] = "raise", corrupt_advice: str = "") -> None:
        self.path = Path(path)
        self.schema = schema
        self.lock = threading.Lock()
        self._error_class = error_class
        self._corrupt_advice = corrupt_advice or "restore it from a backup or move it away"
        self._db: sqlite3.Connection | None = None
        self._sessions: dict[tuple[str, bool], _Session] = {}
        self.moved_aside: Path | None = None  # where a corrupt file went, if it was moved
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error_class(f"cannot create the directory of the {schema.name} {self.path}: {exc}",
                              self.path) from exc
        try:
            self._open(busy_timeout, synchronous, pragmas)
        except sqlite3.Error as exc:
            if not (is_corrupt(exc) and on_corrupt == "move_aside"):
                self._abandon()
                raise self.error(exc, "open") from exc
            try:
                self.moved_aside = self._move_aside(exc)  # before closing: SQLite would delete the -wal
            finally:
                self._abandon()
            try:
                self._open(busy_timeout, synchronous, pragmas)
            except sqlite3.Error as again:
                self._abandon()
                raise self.error(again, "open") from again
            except StorageError:
                self._abandon()
                raise
        except StorageError:
            self._abandon()
            raise

    # ---- use --------------------------------------------------------------------------

    def read(self, action: str) -> "_Session":
        """Statements under the lock (no transaction); SQLite errors become the store's error."""
        session = self._sessions.get((action, False))
        if session is None:  # one per action, reused: the lock lets one holder at a time use it
            session = self._sessions[(action, False)] = _Session(self, action, write=False)
        return session

    def write(self, action: str) -> "_Session":
        """One short write transaction under the lock (BEGIN IMMEDIATE); rolled back on any error."""
        session = self._sessions.get((action, True))
        if session is None:
            session = self._sessions[(action, True)] = _Session(self, action, write=True)
        return session

    def connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise self._error_class(f"{self.schema.name} {self.path} is closed", self.path)
        return self._db

    def error(self, exc: sqlite3.Error, action: str) -> StorageError:
        if is_corrupt(exc):
            return self._error_class(f"{self.schema.name} {self.path} is corrupt or not a SQLite database ({exc}); "
                                     f"{self._corrupt_advice}", self.path)
        return self._error_class(f"{self.schema.name} {self.path}: {action} failed: {exc}", self.path)

    def close(self) -> None:
        """Close the connection; safe to call twice. The last closer folds the WAL back."""
        with self.lock:
            db, self._db = self._db, None
            if db is not None:
                try:
                    db.close()
                except sqlite3.Error as exc:
                    raise self.error(exc, "close") from exc

    # ---- opening ----------------------------------------------------------------------

    def _open(self, busy_timeout: float, synchronous: str, pragmas: tuple[str, ...]) -> None:
        self._db = db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                        check_same_thread=False)
        self._ensure_schema(check_only=True)  # a foreign file is refused before anything changes it
        enable_wal(db, busy_timeout=busy_timeout, synchronous=synchronous)
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        self._ensure_schema()

    def _ensure_schema(self, *, check_only: bool = False) -> None:
        """Create or migrate the schema; the common case (current) is a read of two pragmas, no lock."""
        db = self.connection()
        # One read transaction: the pragmas and sqlite_master must come from the same snapshot,
        # or a creation committed in between looks like someone else's file.
        db.execute("BEGIN")
        try:
            current = self._version(db) == self.schema.version
        finally:
            db.execute("COMMIT")
        if current or check_only:
            return
        with transaction(db):
            version = self._version(db)  # again, under the write lock
            if version == 0:
                for statement in split_sql(self.schema.create):
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {self.schema.application_id}")
                version = self.schema.version
            while version < self.schema.version:
                for statement in split_sql(self.schema.migrations[version]):
                    db.execute(statement)
                version += 1
            db.execute(f"PRAGMA user_version = {self.schema.version}")

    def _version(self, db: sqlite3.Connection) -> int:
        """The file's schema version (0: empty, to be created); refuses foreign and newer files."""
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        app_id: int = db.execute("PRAGMA application_id").fetchone()[0]
        if version == 0 and app_id == 0 and db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None:
            return 0
        if app_id != self.schema.application_id:
            raise self._error_class(f"{self.path} is a SQLite database but not a Qualia {self.schema.name}; "
                                    f"{self.schema.advice}", self.path)
        if version > self.schema.version:
            raise self._error_class(f"{self.schema.name} {self.path} has schema version {version}, newer than this "
                                    f"kernel's {self.schema.version}; upgrade the kernel", self.path)
        return version

    def _move_aside(self, exc: sqlite3.Error) -> Path:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            self.path.rename(aside)
            for suffix in SIDE_FILES:
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.rename(aside.with_name(aside.name + suffix))
        except OSError as move:
            raise self._error_class(f"{self.schema.name} {self.path} is corrupt ({exc}) and cannot be moved aside "
                                    f"({move}); {self._corrupt_advice}", self.path) from move
        log.warning("%s %s is corrupt or not a SQLite database (%s): moved it to %s and started a new one",
                    self.schema.name, self.path, exc, aside)
        return aside

    def _abandon(self) -> None:
        """Close a connection that failed to open properly, ignoring errors."""
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass


class _Session:
    """What `Database.read()` / `write()` return: a plain reusable class, as the cache's hot path runs it.

    Only the lock's holder touches its state, so one instance per action serves every thread.
    """

    __slots__ = ("_database", "_lock", "_action", "_write", "_db")

    def __init__(self, database: Database, action: str, *, write: bool) -> None:
        self._database = database
        self._lock = database.lock
        self._action = action
        self._write = write
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        db = self._database._db
        if db is None:
            self._lock.release()
            self._database.connection()  # raises: closed
        assert db is not None
        if self._write:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._lock.release()
                raise self._database.error(exc, self._action) from exc
            except BaseException:
                self._lock.release()
                raise
        self._db = db
        return db

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        db, self._db = self._db, None
        if not self._write and exc is None:  # the common read
            self._lock.release()
            return
        try:
            if self._write and db is not None:
                if exc is None:
                    db.execute("COMMIT")
                elif db.in_transaction:
                    db.execute("ROLLBACK")
        except sqlite3.Error as failed:
            if exc is None:
                exc = failed
        finally:
            self._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise self._database.error(exc, self._action) from exc
