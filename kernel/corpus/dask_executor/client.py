"""The client side: `DaskExecutor.map`, sources in, outcomes out as chunks finish, a bounded number in flight.

Dask costs a few milliseconds of CPU per task (client, scheduler, worker), a
tenth of what the plugins spend on a 5 KB transcript; so a task carries a
chunk of sources, sized to keep each task near TARGET_TASK_S of work (from
the time documents have been taking), never more than MAX_CHUNK sources or
CHUNK_BYTES of files, and smaller towards the end of a batch whose size is
known, so no worker idles while another finishes a long chunk. The chunk's
outcomes are written by the caller as soon as it returns.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from typing import Any

import msgspec

from qualia.plugin_sdk import protocol as p

from ...errors import ClusterUnavailable, QualiaError, Unavailable
from ...pipeline import PlannedStep
from ..work import Failure, SourceOutcome, StepProgress, WorkItem, WorkOptions, load_item
from .worker import MSGPACK, Job, check_worker, decode_outcomes, encode_chunk, run_chunk, unavailable_error

__all__ = ["DaskExecutor"]

SCATTER_BYTES = 1 << 20      # a chunk larger than this goes to the cluster with `scatter`, not in the task
CHUNK_BYTES = 1 << 20        # a chunk is closed once its files reach this size (a larger file goes alone)
MAX_CHUNK = 32               # sources in one task at most
TARGET_TASK_S = 1.0          # work per task the chunk size aims at: Dask's ~4 ms per task is then well below 1 %
RETRIES = 2                  # a task that raises is tried this many more times (a dead worker: allowed-failures)


class _Chunk:
    """The sources of one task, with what the client reports should the task fail."""

    __slots__ = ("items", "digests")

    def __init__(self) -> None:
        self.items: list[WorkItem] = []
        self.digests: list[str] = []


class DaskExecutor:
    """`Executor` on a Dask client: sources in, outcomes out as they finish, a bounded number in flight.

    `in_flight` bounds the tasks in flight (default: two per task slot and two spare); `chunk` fixes the
    sources per task (default: sized from the documents' timings, see the module).
    """

    def __init__(self, client: Any, plugin_name: str, *, in_flight: int | None = None,
                 options: WorkOptions = WorkOptions(), retries: int = RETRIES, dashboard_link: str | None = None,
                 where: str = "", chunk: int | None = None) -> None:
        self.client = client
        self.plugin_name = plugin_name
        self.in_flight = in_flight
        self.options = options
        self.retries = retries
        self.dashboard_link = dashboard_link
        self.where = where
        self.chunk = chunk
        self.workers = 1            # documents the cluster runs at once (its workers' task slots)
        self.worker_processes = 1   # Dask workers, each with its Qualia kernel
        self._limit_checked = 0.0
        self.chunks: Counter[int] = Counter()    # tasks submitted, by the sources they carried
        self._document_s: float | None = None    # a moving average of the seconds a document takes on a worker
        self._topic = f"{plugin_name}-progress"  # plugins' `$/progress` from the workers (worker.ProgressRelay)
        self._listeners: dict[str, StepProgress] = {}

    async def refresh(self) -> int:
        """Task slots now in the cluster (workers come and go)."""
        nthreads = await self.client.nthreads()
        self.workers = max(1, sum(nthreads.values()))
        self.worker_processes = len(nthreads)
        self._limit_checked = time.monotonic()
        return self.workers

    async def limit(self) -> int:
        """Tasks in flight: two per task slot (one running, one waiting on the worker) and a few spare."""
        if self.in_flight is not None:
            return self.in_flight
        if time.monotonic() - self._limit_checked > 5.0:
            await self.refresh()
        return 2 * self.workers + 2

    def chunk_size(self, remaining: int | None) -> int:
        """Sources for the next task: about TARGET_TASK_S of work, and at most a share of what is left so the
        batch's last tasks are spread over every task slot."""
        if self.chunk is not None:
            return max(1, self.chunk)
        size = 1 if self._document_s is None else int(TARGET_TASK_S / max(self._document_s, 1e-3))
        if remaining is not None:
            size = min(size, remaining // (2 * self.workers))
        return max(1, min(size, MAX_CHUNK))

    def _timed(self, outcomes: list[SourceOutcome]) -> None:
        times = [document.elapsed_ms / 1000 for outcome in outcomes for document in outcome.documents]
        if times:
            mean = sum(times) / len(times)
            self._document_s = mean if self._document_s is None else 0.7 * self._document_s + 0.3 * mean

    async def map(self, items: Iterable[WorkItem], plan: list[PlannedStep], *, pipeline: str,
                  progress: StepProgress | None = None) -> AsyncIterator[SourceOutcome]:
        """Like LocalExecutor.map; `progress` gets the plugins' `$/progress` from the workers (throttled).

        A worker that dies takes every task it was running with it, and Dask gives up on a task after its
        workers died `allowed-failures` times: sources that shared a chunk or a worker with a document that
        kills it would go down with it. So the sources of a chunk that failed are run again at the end, one
        per task, one at a time, and only a document that fails on its own is reported (a dead worker: step
        `worker`).
        """
        job = MSGPACK.encode(Job.of(plan, pipeline, self.options))
        await self._check_workers(job)
        token = uuid.uuid4().hex
        if progress is not None:
            self._listen(token, progress)
        try:
            total = len(items) if isinstance(items, Sized) else None
            suspects: list[WorkItem] = []
            relay = None if progress is None else (self._topic, token)
            async for outcome in self._stream(iter(items), total, job, relay, suspects):
                yield outcome
            async for outcome in self._stream(iter(suspects), len(suspects), job, relay, None, limit=1):
                yield outcome
        finally:
            if progress is not None:
                self._unlisten(token)

    def _listen(self, token: str, progress: StepProgress) -> None:
        if not self._listeners:
            self.client.subscribe_topic(self._topic, self._on_progress)
        self._listeners[token] = progress

    def _unlisten(self, token: str) -> None:
        self._listeners.pop(token, None)
        if not self._listeners and self.client.status == "running":
            self.client.unsubscribe_topic(self._topic)

    def _on_progress(self, event: tuple[float, list[Any]]) -> None:
        token, key, step, request, done, total = event[1]
        listener = self._listeners.get(token)
        if listener is not None:
            listener(key, step, p.ProgressParams(id=request, done=done, total=total))

    async def _stream(self, items: Iterator[WorkItem], total: int | None, job: bytes,
                      progress: tuple[str, str] | None, suspects: list[WorkItem] | None, *,
                      limit: int | None = None) -> AsyncIterator[SourceOutcome]:
        """Submit chunks (a bounded number in flight), yield outcomes as tasks finish. With `suspects`, the
        sources of a chunk that failed are put there instead of failing."""
        import distributed

        completed = distributed.as_completed(loop=self.client.loop)
        running: dict[Any, _Chunk] = {}
        taken = 0
        carry: WorkItem | None = None  # a large file, kept for the next chunk
        exhausted = False
        try:
            while True:
                in_flight = limit or await self.limit()
                while not exhausted and len(running) < in_flight:
                    want = 1 if limit else self.chunk_size(None if total is None else total - taken)
                    chunk, size = _Chunk(), 0
                    while len(chunk.items) < want and size < CHUNK_BYTES:
                        item, carry = (carry, None) if carry is not None else (next(items, None), None)
                        if item is None:
                            exhausted = True
                            break
                        taken += 1
                        loaded = load_item(item)
                        if isinstance(loaded, SourceOutcome):  # unreadable here: reported as a local batch does
                            yield loaded
                            continue
                        weight = len(loaded.data or b"") or (len(loaded.document.text) if loaded.document else 0)
                        if chunk.items and size + weight > CHUNK_BYTES:
                            carry, taken = loaded, taken - 1
                            break
                        chunk.items.append(loaded)
                        chunk.digests.append(hashlib.sha256(loaded.data).hexdigest() if loaded.data else "")
                        size += weight
                    if not chunk.items:
                        continue
                    future = await self._submit(chunk, job, progress)
                    self.chunks[len(chunk.items)] += 1
                    running[future] = chunk
                    completed.add(future)
                if not running:
                    return
                future = await anext(completed)
                chunk = running.pop(future)
                outcomes, unavailable = await self._outcomes(future, chunk, alone=suspects is None)
                future.release()
                if outcomes is None:
                    assert suspects is not None
                    suspects.extend(_unloaded(item) for item in chunk.items)
                    continue
                self._timed(outcomes)
                for outcome in outcomes:
                    yield outcome
                if unavailable is not None:  # as the local executor: the map ends, the rest is cancelled
                    raise unavailable_error(unavailable)
        finally:
            if running:
                await self.client.cancel(list(running), force=True)

    async def _submit(self, chunk: _Chunk, job: bytes, progress: tuple[str, str] | None) -> Any:
        from distributed import Future

        payload: bytes | Future = encode_chunk(chunk.items)
        if len(payload) > SCATTER_BYTES:  # big files travel as data, not inside the task graph
            payload = await self.client.scatter(payload, hash=False)
        return self.client.submit(run_chunk, self.plugin_name, job, payload, progress,
                                  key=f"qualia-chunk-{uuid.uuid4().hex}", retries=self.retries, pure=False)

    async def _outcomes(self, future: Any, chunk: _Chunk, *,
                        alone: bool) -> tuple[list[SourceOutcome] | None, Failure | None]:
        """The chunk's outcomes (and the Unavailable that stopped it, see run_chunk); for a task that failed,
        None (its sources are run again alone) or, when it ran alone, that failure as its source's outcome.
        A lost scheduler is ClusterUnavailable, never a document's failure."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        unavailable = None
        try:
            outcomes, unavailable = decode_outcomes(await future)
        except KilledWorker as exc:
            if not alone:
                return None, None
            failure = Failure(step="worker", code="worker_lost",
                              message=f"the Dask workers running it died on every attempt, also when it ran alone "
                                      f"({exc})")
        except FutureCancelledError as exc:
            raise ClusterUnavailable(f"the Dask scheduler {self.where} dropped the batch's tasks ({exc.reason}); "
                                     f"a re-run resumes", address=self.where) from None
        except QualiaError as exc:
            if isinstance(exc, Unavailable) and self.options.raise_unavailable:
                raise
            if not alone and len(chunk.items) > 1:
                return None, None
            failure = Failure(step="worker", code=exc.code, message=exc.message)
        except Exception as exc:
            if isinstance(exc, OSError) or self.client.status != "running":  # CommClosedError is an OSError
                raise ClusterUnavailable(f"lost the Dask scheduler {self.where}: {type(exc).__name__}: {exc}; "
                                         f"a re-run resumes", address=self.where) from None
            if not alone and len(chunk.items) > 1:
                return None, None
            failure = Failure(step="worker", code="internal_error", message=f"{type(exc).__name__}: {exc}")
        else:
            keys = [item.key for item in chunk.items]
            if [outcome.key for outcome in outcomes] == (keys if unavailable is None else keys[:len(outcomes)]):
                return outcomes, unavailable
            failure = Failure(step="worker", code="internal_error",
                              message="the worker returned another chunk's outcomes")
        return [SourceOutcome(key=item.key, path=item.path, sha256=digest, error=failure)
                for item, digest in zip(chunk.items, chunk.digests)], None

    async def _check_workers(self, job: bytes) -> None:
        """Every worker plans the pipeline like the client before any document goes out."""
        await self.refresh()
        try:
            await self.client.run(check_worker, self.plugin_name, job)
        except QualiaError:
            raise
        except Exception as exc:
            raise ClusterUnavailable(f"the Dask cluster {self.where} could not check its workers: {exc}",
                                     address=self.where) from None


def _unloaded(item: WorkItem) -> WorkItem:
    """A suspect waits for the end of the batch without its bytes (read again then): memory stays flat."""
    return msgspec.structs.replace(item, data=None) if item.path is not None else item
