"""`JobStore`: durable jobs in one SQLite file (`QUALIA_HOME/jobs.sqlite3`).

A job is a row in `jobs` (state, progress, owner and lease, callback state)
plus one row in `outputs` per finished document, written as each document
ends, so progress survives a crash and a restarted job skips what is done.

Several processes may share the file (like the result cache); it is opened
through `sqlite.Database` (WAL mode, a busy timeout, short write transactions
that begin IMMEDIATE, schema versioning). A corrupt file is reported naming
it (the server then runs without jobs), never moved: it holds accepted work. A runner claims
a job by setting `owner` and `lease_until` in one statement; every later
write is conditional on still owning it, so a runner that lost its lease (it
was presumed dead and the job re-queued) can never overwrite the new run.
The same owner/lease scheme covers pending callback deliveries.

Synchronous on purpose, like `ResultCache`: each call is a few small
statements, far cheaper than a thread hop.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from ..errors import JobStoreError
from ..sqlite import Database, Schema
from .spec import JobSpec

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "Job", "JobStore", "JobStoreError"]

SCHEMA_VERSION = 1
APPLICATION_ID = 0x5175_614A  # "QuaJ": tells the job store from any other SQLite file
BUSY_TIMEOUT_S = 5.0

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled")

_SCHEMA_V1 = """
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,        -- pipeline | plugin
    target            TEXT NOT NULL,        -- plugin id or pipeline name
    source            TEXT NOT NULL,        -- api | custom | github | slack
    delivery_id       TEXT,                 -- unique per source: webhook deliveries run once
    state             TEXT NOT NULL,        -- queued | running | succeeded | failed | cancelled
    done              INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,
    total             INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    error             TEXT,                 -- JSON {code, message, details}
    created           REAL NOT NULL,
    updated           REAL NOT NULL,
    started           REAL,
    finished          REAL,
    not_before        REAL,                 -- a retried job waits until then
    owner             TEXT,                 -- the runner running it
    lease_until       REAL,
    callback_url      TEXT,
    callback_state    TEXT,                 -- NULL until the job ends, then pending | delivered | failed
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_error    TEXT,
    callback_next     REAL,                 -- when the next attempt is due
    callback_owner    TEXT,
    callback_lease    REAL,
    payload           BLOB NOT NULL         -- the JobSpec as JSON; last, so other reads skip it
);
CREATE UNIQUE INDEX jobs_by_delivery ON jobs (source, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX jobs_by_state ON jobs (state, created);
CREATE INDEX jobs_by_created ON jobs (created);
CREATE INDEX jobs_pending_callbacks ON jobs (callback_next) WHERE callback_state = 'pending';

CREATE TABLE outputs (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,               -- the document's position in the job
    ok      INTEGER NOT NULL,
    outcome BLOB NOT NULL,                  -- JSON: {index, document_id, steps…} or {index, document_id, error}
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
"""

SCHEMA = Schema(name="job store", application_id=APPLICATION_ID, version=SCHEMA_VERSION, create=_SCHEMA_V1)

_COLUMNS = ("id, kind, target, source, delivery_id, state, done, failed, total, attempts, error, created, updated, "
            "started, finished, not_before, owner, lease_until, callback_url, callback_state, callback_attempts, "
            "callback_error, callback_next")

_ERROR_ENCODER = msgspec.json.Encoder()



class Job(msgspec.Struct, kw_only=True):
    """One row of `jobs`, without its payload and outputs."""

    id: str
    kind: str
    target: str
    source: str
    delivery_id: str | None
    state: str
    done: int
    failed: int
    total: int
    attempts: int
    error: dict[str, Any] | None
    created: float
    updated: float
    started: float | None
    finished: float | None
    not_before: float | None
    owner: str | None
    lease_until: float | None
    callback_url: str | None
    callback_state: str | None
    callback_attempts: int
    callback_error: str | None
    callback_next: float | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Job":
        values = dict(zip(cls.__struct_fields__, row))
        if values["error"] is not None:
            values["error"] = msgspec.json.decode(values["error"])
        return cls(**values)


class JobStore:
    """Jobs, their per-document outputs and their callback deliveries; process-safe."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # FULL, unlike the cache: an accepted job (a 202 already answered) must survive power loss.
        self._db = Database(path, SCHEMA, error_class=JobStoreError, busy_timeout=busy_timeout, synchronous="FULL",
                            pragmas=("foreign_keys = ON",))

    @property
    def path(self) -> Path:
        return self._db.path

    # ---- submitting and reading ---------------------------------------------------

    def submit(self, spec: JobSpec, *, source: str = "api", delivery_id: str | None = None,
               callback_url: str | None = None) -> tuple[Job, bool]:
        """Queue a job; return it and True, or the earlier job of the same delivery and False."""
        now = self._clock()
        job_id = uuid.uuid4().hex
        payload = msgspec.json.encode(spec)
        with self._db.write("submit") as db:
            if delivery_id is not None:
                row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE source = ? AND delivery_id = ?",
                                 (source, delivery_id)).fetchone()
                if row is not None:
                    return Job.from_row(row), False
            row = _first(db.execute(
                f"INSERT INTO jobs (id, kind, target, source, delivery_id, state, total, created, updated, "
                f"callback_url, payload) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (job_id, spec.kind, spec.target, source, delivery_id, len(spec.documents), now, now, callback_url,
                 payload)).fetchall())
            return Job.from_row(row), True

    def get(self, job_id: str) -> Job | None:
        with self._db.read("get") as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_row(row)

    def recent(self, limit: int = 50, state: str | None = None) -> list[Job]:
        """The newest jobs first."""
        with self._db.read("list") as db:
            if state is None:
                rows = db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY created DESC, rowid DESC LIMIT ?",
                                  (limit,)).fetchall()
            else:
                rows = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY created DESC, rowid DESC "
                                  "LIMIT ?", (state, limit)).fetchall()
        return [Job.from_row(row) for row in rows]

    def count(self) -> int:
        with self._db.read("count") as db:
            return int(db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (every state listed, 0 included); for /monitor and /metrics."""
        with self._db.read("count by state") as db:
            rows = db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        counts = dict.fromkeys(ACTIVE_STATES + FINAL_STATES, 0)
        counts.update({state: int(n) for state, n in rows})
        return counts

    def spec(self, job_id: str) -> JobSpec:
        with self._db.read("read payload") as db:
            row = db.execute("SELECT payload FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return msgspec.json.decode(row[0], type=JobSpec)

    def outputs(self, job_id: str) -> list[bytes]:
        """Each finished document's outcome (JSON bytes), in document order."""
        with self._db.read("read outputs") as db:
            rows = db.execute("SELECT outcome FROM outputs WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [bytes(row[0]) for row in rows]

    def first_failure(self, job_id: str) -> bytes | None:
        """The outcome of the first document that failed, or None."""
        with self._db.read("read outputs") as db:
            row = db.execute("SELECT outcome FROM outputs WHERE job_id = ? AND ok = 0 ORDER BY idx LIMIT 1",
                             (job_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def done_indexes(self, job_id: str) -> set[int]:
        with self._db.read("read outputs") as db:
            return {row[0] for row in db.execute("SELECT idx FROM outputs WHERE job_id = ?", (job_id,))}

    # ---- running ------------------------------------------------------------------

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Take the oldest due queued job: it becomes `running`, owned by `owner` until the lease ends."""
        now = self._clock()
        with self._db.write("claim") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1, "
                f"updated = ?, started = coalesce(started, ?), not_before = NULL WHERE id = ("
                f"SELECT id FROM jobs WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?) "
                f"ORDER BY created, rowid LIMIT 1) RETURNING {_COLUMNS}",
                (owner, now + lease_s, now, now, now)).fetchall())
        return None if row is None else Job.from_row(row)

    def next_due(self) -> float | None:
        """When the earliest delayed queued job becomes due (None: no delayed job)."""
        with self._db.read("next due") as db:
            value = db.execute("SELECT min(not_before) FROM jobs WHERE state = 'queued'").fetchone()[0]
        return value

    def record_output(self, job_id: str, owner: str, index: int, ok: bool, outcome: bytes) -> Job | None:
        """Store one document's outcome and count it; None if the job is no longer this owner's."""
        now = self._clock()
        with self._db.write("record output") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET done = done + 1, failed = failed + ?, updated = ? "
                f"WHERE id = ? AND owner = ? AND state = 'running' RETURNING {_COLUMNS}",
                (0 if ok else 1, now, job_id, owner)).fetchall())
            if row is None:
                return None
            db.execute("INSERT INTO outputs (job_id, idx, ok, outcome) VALUES (?, ?, ?, ?)",
                       (job_id, index, int(ok), outcome))
        return Job.from_row(row)

    def finish(self, job_id: str, owner: str, state: str, error: dict[str, Any] | None = None) -> Job | None:
        """End a running job this owner holds; a callback, if any, becomes due now."""
        assert state in ("succeeded", "failed")
        now = self._clock()
        with self._db.write("finish") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET state = ?, error = ?, finished = ?, updated = ?, owner = NULL, lease_until = NULL, "
                f"callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, callback_next = ? "
                f"WHERE id = ? AND owner = ? AND state = 'running' RETURNING {_COLUMNS}",
                (state, _encode_error(error), now, now, now, job_id, owner)).fetchall())
        return None if row is None else Job.from_row(row)

    def requeue(self, job_id: str, owner: str, *, delay_s: float = 0.0, refund: bool = False,
                error: dict[str, Any] | None = None) -> Job | None:
        """Give a running job back to the queue, due after `delay_s`.

        `refund` uncounts this attempt: a graceful stop is not the job's fault.
        """
        now = self._clock()
        with self._db.write("requeue") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, updated = ?, not_before = ?, "
                f"attempts = max(0, attempts - ?), error = coalesce(?, error) "
                f"WHERE id = ? AND owner = ? AND state = 'running' RETURNING {_COLUMNS}",
                (now, now + delay_s if delay_s > 0 else None, int(refund), _encode_error(error), job_id,
                 owner)).fetchall())
        return None if row is None else Job.from_row(row)

    def cancel(self, job_id: str) -> tuple[Job | None, bool]:
        """Cancel a queued or running job: (the job, True), (the finished job, False), or (None, False)."""
        now = self._clock()
        with self._db.write("cancel") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET state = 'cancelled', finished = ?, updated = ?, owner = NULL, lease_until = NULL, "
                f"callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, callback_next = ? "
                f"WHERE id = ? AND state IN ('queued', 'running') RETURNING {_COLUMNS}",
                (now, now, now, job_id)).fetchall())
            if row is not None:
                return Job.from_row(row), True
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return (None if row is None else Job.from_row(row)), False

    def renew(self, owner: str, lease_s: float, job_ids: list[str]) -> set[str]:
        """Extend this owner's leases (jobs and callbacks); return those of `job_ids` it no longer holds."""
        now = self._clock()
        with self._db.write("renew") as db:
            db.execute("UPDATE jobs SET lease_until = ? WHERE owner = ? AND state = 'running'", (now + lease_s, owner))
            db.execute("UPDATE jobs SET callback_lease = ? WHERE callback_owner = ? AND callback_state = 'pending'",
                       (now + lease_s, owner))
            held = {row[0] for row in db.execute("SELECT id FROM jobs WHERE owner = ? AND state = 'running'",
                                                 (owner,))}
        return {job_id for job_id in job_ids if job_id not in held}

    def recover(self, is_dead: Callable[[str], bool], *, max_attempts: int) -> tuple[list[str], list[str]]:
        """Re-queue running jobs whose owner died or whose lease expired; fail those out of attempts.

        Returns (re-queued ids, failed ids). Orphaned callbacks are released
        the same way (their owner cleared), to be claimed again.
        """
        now = self._clock()
        requeued: list[str] = []
        failed: list[str] = []
        with self._db.write("recover") as db:
            rows = db.execute("SELECT id, owner, lease_until, attempts FROM jobs WHERE state = 'running'").fetchall()
            for job_id, owner, lease_until, attempts in rows:
                if not (owner is None or (lease_until or 0) < now or is_dead(owner)):
                    continue
                if attempts >= max_attempts:
                    error = {"code": "interrupted", "message": f"the job was interrupted {attempts} time(s) (the "
                             f"server stopped or died while it ran) and reached the limit of {max_attempts} attempts",
                             "details": {"attempts": attempts}}
                    db.execute("UPDATE jobs SET state = 'failed', error = ?, finished = ?, updated = ?, owner = NULL, "
                               "lease_until = NULL, callback_state = CASE WHEN callback_url IS NULL THEN NULL "
                               "ELSE 'pending' END, callback_next = ? WHERE id = ? AND state = 'running'",
                               (_encode_error(error), now, now, now, job_id))
                    failed.append(job_id)
                else:
                    db.execute("UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, updated = ? "
                               "WHERE id = ? AND state = 'running'", (now, job_id))
                    requeued.append(job_id)
            rows = db.execute("SELECT id, callback_owner, callback_lease FROM jobs WHERE callback_state = 'pending' "
                              "AND callback_owner IS NOT NULL").fetchall()
            for job_id, owner, lease in rows:
                if (lease or 0) < now or is_dead(owner):
                    db.execute("UPDATE jobs SET callback_owner = NULL, callback_lease = NULL WHERE id = ?", (job_id,))
        return requeued, failed

    # ---- callbacks ----------------------------------------------------------------

    def claim_callbacks(self, owner: str, lease_s: float, limit: int = 100) -> list[Job]:
        """Take pending deliveries nobody holds (due or not: the deliverer waits for `callback_next`)."""
        now = self._clock()
        with self._db.write("claim callbacks") as db:
            rows = db.execute(
                f"UPDATE jobs SET callback_owner = ?, callback_lease = ? WHERE id IN ("
                f"SELECT id FROM jobs WHERE callback_state = 'pending' AND callback_owner IS NULL "
                f"ORDER BY callback_next LIMIT ?) RETURNING {_COLUMNS}", (owner, now + lease_s, limit)).fetchall()
        return sorted((Job.from_row(row) for row in rows), key=lambda job: job.callback_next or 0)

    def callback_attempted(self, job_id: str, owner: str, *, error: str, next_at: float) -> Job | None:
        """Count a failed attempt; the delivery stays pending, due again at `next_at`."""
        with self._db.write("record callback") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET callback_attempts = callback_attempts + 1, callback_error = ?, callback_next = ?, "
                f"updated = ? WHERE id = ? AND callback_owner = ? AND callback_state = 'pending' RETURNING {_COLUMNS}",
                (error, next_at, self._clock(), job_id, owner)).fetchall())
        return None if row is None else Job.from_row(row)

    def callback_finished(self, job_id: str, owner: str, *, delivered: bool, error: str | None) -> Job | None:
        """The last attempt: delivered, or failed with the reason."""
        with self._db.write("record callback") as db:
            row = _first(db.execute(
                f"UPDATE jobs SET callback_state = ?, callback_attempts = callback_attempts + 1, callback_error = ?, "
                f"callback_next = NULL, callback_owner = NULL, callback_lease = NULL, updated = ? "
                f"WHERE id = ? AND callback_owner = ? AND callback_state = 'pending' RETURNING {_COLUMNS}",
                ("delivered" if delivered else "failed", error, self._clock(), job_id, owner)).fetchall())
        return None if row is None else Job.from_row(row)

    def release_jobs(self, owner: str) -> list[str]:
        """Give back every job this owner still runs (on stop), without counting the attempt."""
        now = self._clock()
        with self._db.write("release jobs") as db:
            rows = db.execute("UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, updated = ?, "
                              "attempts = max(0, attempts - 1) WHERE owner = ? AND state = 'running' RETURNING id",
                              (now, owner)).fetchall()
        return [row[0] for row in rows]

    def release_callbacks(self, owner: str) -> None:
        """Give back this owner's pending deliveries (on stop) so the next start takes them at once."""
        with self._db.write("release callbacks") as db:
            db.execute("UPDATE jobs SET callback_owner = NULL, callback_lease = NULL "
                       "WHERE callback_owner = ? AND callback_state = 'pending'", (owner,))

    # ---- housekeeping -------------------------------------------------------------

    def prune(self, older_than_s: float) -> int:
        """Delete finished jobs (whose callbacks are settled) that ended more than `older_than_s` ago."""
        cutoff = self._clock() - older_than_s
        with self._db.write("prune") as db:
            cursor = db.execute("DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled') "
                                "AND finished < ? AND (callback_state IS NULL OR callback_state != 'pending')",
                                (cutoff,))
            return cursor.rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _first(rows: list[Any]) -> Any:
    """The single row of an UPDATE … RETURNING (fetched in full, so the statement is done before COMMIT)."""
    return rows[0] if rows else None


def _encode_error(error: dict[str, Any] | None) -> str | None:
    return None if error is None else _ERROR_ENCODER.encode(error).decode("utf-8")
