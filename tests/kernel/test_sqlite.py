"""kernel/sqlite.py, the one way the cache and the job store open their files: WAL with many
processes opening one new file at once, schema versions and migrations, foreign and corrupt files,
transactions that leave nothing behind on error."""
from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from qualia.kernel.errors import StorageError
from qualia.kernel.sqlite import Database, Schema, connect_wal

OPENERS = 8


def _open(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        db = connect_wal(Path(path), busy_timeout=10.0)
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        db.close()
        results.put(mode)
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))


def test_simultaneous_first_opens_never_fail_with_locked(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        path = tmp_path / f"new-{round_}.sqlite3"
        barrier, results = context.Barrier(OPENERS), context.Queue()
        processes = [context.Process(target=_open, args=(str(path), barrier, results)) for _ in range(OPENERS)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(10)
        results.close()
        results.join_thread()
        assert outcomes == ["wal"] * OPENERS, outcomes


# ---- Database: schema versions, corruption, transactions ------------------------------------------

V1 = Schema(name="test store", application_id=0x51_54_53_54, version=1,
            create="CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);  -- the first version")
V2 = Schema(name="test store", application_id=V1.application_id, version=2,
            create="CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, lang TEXT NOT NULL DEFAULT 'pt');",
            migrations={1: "ALTER TABLE notes ADD COLUMN lang TEXT NOT NULL DEFAULT 'pt';"})


# The base class itself: a test-only subclass would join the documented error tree (error_table()).
StoreError = StorageError


def test_a_new_file_gets_the_current_schema_and_an_old_one_its_migrations(tmp_path):
    path = tmp_path / "store.sqlite3"
    old = Database(path, V1, error_class=StoreError)
    with old.write("add") as db:
        db.execute("INSERT INTO notes (text) VALUES ('olá')")
    old.close()
    new = Database(path, V2, error_class=StoreError)
    with new.read("list") as db:
        assert db.execute("SELECT text, lang FROM notes").fetchall() == [("olá", "pt")]
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    new.close()
    with pytest.raises(StoreError, match="schema version 2, newer than this kernel's 1"):
        Database(path, V1, error_class=StoreError)  # an old kernel never writes a newer file


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    store = Database(tmp_path / "store.sqlite3", V1, error_class=StoreError)
    with pytest.raises(StoreError, match="test store .*: add failed"):
        with store.write("add") as db:
            db.execute("INSERT INTO notes (text) VALUES ('kept?')")
            db.execute("INSERT INTO notes (text) VALUES (NULL)")  # NOT NULL: the transaction rolls back
    with store.read("count") as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="is closed"):
        with store.read("count"):
            pass


def test_a_foreign_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "someone-else.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE theirs (x)")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a Qualia test store") as caught:
        Database(path, V1, error_class=StoreError, on_corrupt="move_aside")
    assert caught.value.path == path and path.read_bytes() == before


def test_a_corrupt_file_is_reported_with_advice_or_moved_aside(tmp_path):
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(StoreError, match="is corrupt or not a SQLite database .*restore it from a backup") as caught:
        Database(path, V1, error_class=StoreError)
    assert caught.value.path == path and caught.value.status == 500
    (tmp_path / "store.sqlite3-wal").write_bytes(b"stale")
    store = Database(path, V1, error_class=StoreError, on_corrupt="move_aside")
    assert store.moved_aside is not None and store.moved_aside.read_bytes().startswith(b"this is not SQLite")
    assert store.moved_aside.with_name(store.moved_aside.name + "-wal").read_bytes() == b"stale"
    with store.write("add") as db:
        db.execute("INSERT INTO notes (text) VALUES ('fresh')")
    store.close()
