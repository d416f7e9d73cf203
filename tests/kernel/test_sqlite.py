"""connect_wal: many processes opening one new file at once all get a WAL connection."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from qualia.kernel.sqlite import connect_wal

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
