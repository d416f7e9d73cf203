"""The batch on a Dask cluster: one Qualia kernel per worker, the same unit of work as the local executor.

`open_cluster("local:N" | "tcp://HOST:PORT", settings)` yields a `DaskExecutor`
(the same `map` as `LocalExecutor`, so `run_batch`, the store, the index and
the resume rule are unchanged). Dask owns scheduling and faults; we own the
unit of work:

- `KernelPlugin`, a `distributed.WorkerPlugin`, starts a `Kernel` on each
  worker's event loop in `setup` (plugins discovered on that worker) and stops
  it, with its plugin processes, in `teardown` (the worker closing, or the
  batch unregistering the plugin). A worker that joins or is restarted later
  gets one too.
- `run_source`, the task, is a coroutine run on that loop: one source
  through the whole pipeline with `process_source`, so results are the local
  executor's byte for byte. The pipeline and settings travel as msgspec bytes;
  the file's bytes travel with the task (workers need not see the client's
  files); the outcome (a msgspec Struct) comes back pickled, as Dask does.
- The client keeps a bounded number of tasks in flight and takes outcomes as
  they finish (`distributed.as_completed`); each is written to disk by the
  caller and released, so client memory stays flat. A worker that dies
  mid-task has its tasks rescheduled by the scheduler; a task that raises is
  retried (`retries=`); a source whose workers keep dying is run again alone
  at the end, and fails (step `worker`) only if it kills its worker alone.

Dask is an optional extra: the batch command imports this module only for
`--cluster`, and without Dask `open_cluster` says what to install.
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ClusterUnavailable, MissingExtra, QualiaError, UsageError, WorkerMismatch
from ..kernel import Kernel
from ..pipeline import PipelineError, PipelineSpec, PlannedStep, Step, plan_pipeline
from ..settings import Settings
from .executor import DASK_INSTALL
from .work import Failure, SourceOutcome, StepProgress, WorkItem, WorkOptions, load_item, plan_fingerprint, \
    process_source

__all__ = ["ClusterTarget", "DaskExecutor", "Job", "KernelPlugin", "open_cluster", "parse_cluster",
           "run_source"]

log = logging.getLogger("qualia.corpus.dask")

SCATTER_BYTES = 1 << 20      # a source larger than this goes to the cluster with `scatter`, not in the task
WAIT_FOR_WORKERS_S = 60.0    # an existing scheduler with no worker: how long to wait for one
RETRIES = 2                  # a task that raises is tried this many more times (a dead worker: allowed-failures)
# Documents a worker runs at once (its Dask task slots, `threads_per_worker` of local:N): the tasks are coroutines on
# the worker's event loop, so no thread runs them; several in flight pipeline through the steps as in the local
# executor (one in the cleaner while another is scored), and each plugin keeps one process per this many slots.
# Measured with bench_batch.py on 2 shared cores, 50 KB transcripts: one document per worker leaves the plugins idle
# between steps (0.52-0.63 of the local throughput), four reach 0.70-0.95 (the spread is the machine's other load).
DOCUMENTS_PER_WORKER = 4

_CLUSTER = re.compile(r"local:(?P<workers>\d+)|(?P<address>(tcp|tls|ws|wss)://\S+)")


class ClusterTarget(msgspec.Struct, frozen=True, kw_only=True):
    """`local:N` (a LocalCluster of N worker processes) or the address of an existing scheduler."""

    workers: int | None = None
    address: str | None = None

    @property
    def local(self) -> bool:
        return self.workers is not None


def parse_cluster(text: str) -> ClusterTarget:
    match = _CLUSTER.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--cluster {text!r}: expected local:N (N worker processes here) or the address of a "
                         f"Dask scheduler, tcp://HOST:PORT", flag="--cluster")
    if match["workers"] is not None:
        workers = int(match["workers"])
        if workers < 1:
            raise UsageError(f"--cluster {text!r}: a local cluster needs at least 1 worker", flag="--cluster")
        return ClusterTarget(workers=workers)
    return ClusterTarget(address=match["address"])


# ---- what travels with the job ------------------------------------------------------------

class JobStep(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    plugin: str
    version: str
    config: dict[str, Any]


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """The pipeline as the client planned it: each worker plans it again and must get the same fingerprint."""

    pipeline: str
    steps: list[JobStep]
    fingerprint: str
    options: WorkOptions = WorkOptions()

    @classmethod
    def of(cls, plan: list[PlannedStep], pipeline: str, options: WorkOptions) -> "Job":
        steps = [JobStep(id=step.id, plugin=step.manifest.id, version=step.manifest.version, config=step.config)
                 for step in plan]
        # the .docx limits are the worker's (its settings): only plain data travels
        options = msgspec.structs.replace(options, limits=None)
        return cls(pipeline=pipeline, steps=steps, fingerprint=plan_fingerprint(plan, options), options=options)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(f"cannot decode {kind.__name__}")


_MSGPACK = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_JOB = msgspec.msgpack.Decoder(Job)
_ITEM = msgspec.msgpack.Decoder(WorkItem)
_SETTINGS = msgspec.msgpack.Decoder(Settings, dec_hook=_dec_hook)


# ---- the worker side ----------------------------------------------------------------------

try:  # the worker accepts only a WorkerPlugin; without Dask the module still imports (for the message)
    from distributed.diagnostics.plugin import WorkerPlugin as _PluginBase
except ImportError:
    _PluginBase = object


class KernelPlugin(_PluginBase):  # type: ignore[misc,valid-type]
    """One Qualia kernel per worker, started in `setup` and stopped (plugin processes too) in `teardown`.

    `settings` are the client's (msgspec bytes). With `worker_paths`, the machine-local ones (QUALIA_HOME,
    QUALIA_PLUGIN_PATH) come from the worker's own environment: a remote worker has its own disk. Each
    plugin keeps one process per DOCUMENTS_PER_WORKER task slots of the worker (`--nthreads`).
    """

    def __init__(self, settings: bytes, *, worker_paths: bool = False) -> None:
        self.settings = settings
        self.worker_paths = worker_paths
        self.kernel: Kernel | None = None
        self._plans: OrderedDict[bytes, tuple[Job, list[PlannedStep]]] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "worker_paths": self.worker_paths}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], worker_paths=state["worker_paths"])  # type: ignore[misc]

    async def setup(self, worker: Any) -> None:
        settings = _SETTINGS.decode(self.settings)
        if self.worker_paths:
            here = Settings.from_env()
            settings = msgspec.structs.replace(settings, home=here.home, plugin_path=here.plugin_path)
        processes = max(1, worker.state.nthreads // DOCUMENTS_PER_WORKER)
        settings = msgspec.structs.replace(settings, plugin_concurrency=processes)
        self.kernel = await Kernel(settings).start()
        log.info("qualia kernel started on %s (%d plugins)", worker.address, len(self.kernel.registry.manifests))

    async def teardown(self, worker: Any) -> None:
        kernel, self.kernel = self.kernel, None
        if kernel is not None:
            await kernel.stop()

    def plan(self, job_bytes: bytes, where: str) -> tuple[Job, list[PlannedStep]]:
        """The job's plan on this worker's plugins (kept for the batch's next tasks)."""
        if job_bytes in self._plans:
            return self._plans[job_bytes]
        if self.kernel is None:
            raise ClusterUnavailable(f"worker {where}: its Qualia kernel did not start (see the worker's log)",
                                     worker=where)
        job = _JOB.decode(job_bytes)
        spec = PipelineSpec(name=job.pipeline, steps=[Step(plugin=step.plugin, id=step.id, config=step.config)
                                                      for step in job.steps])
        try:
            plan = plan_pipeline(self.kernel, spec)
        except PipelineError as exc:
            raise WorkerMismatch(f"worker {where}: {exc.message}", worker=where) from None
        if plan_fingerprint(plan, job.options) != job.fingerprint:
            here = {step.id: step.manifest.version for step in plan}
            differ = ", ".join(f"{step.plugin} {here.get(step.id)} here, {step.version} on the client"
                               for step in job.steps if here.get(step.id) != step.version) or "configs differ"
            raise WorkerMismatch(f"worker {where}: its plugins differ from the client's ({differ}); install the "
                                 f"same Qualia and plugins on every worker", worker=where)
        job = msgspec.structs.replace(job, options=msgspec.structs.replace(
            job.options, limits=self.kernel.settings.archive_limits))
        self._plans[job_bytes] = (job, plan)
        while len(self._plans) > 8:
            self._plans.popitem(last=False)
        return job, plan


def _worker_plugin(name: str, worker: Any = None) -> tuple[Any, KernelPlugin]:
    if worker is None:
        from distributed import get_worker

        worker = get_worker()
    plugin = worker.plugins.get(name)
    if not isinstance(plugin, KernelPlugin):
        raise ClusterUnavailable(f"worker {worker.address}: no Qualia kernel for this batch", worker=worker.address)
    return worker, plugin


async def run_source(plugin_name: str, job: bytes, item: bytes) -> SourceOutcome:
    """The task: one source through the job's pipeline on this worker's kernel."""
    worker, plugin = _worker_plugin(plugin_name)
    decoded_job, plan = plugin.plan(job, worker.address)
    assert plugin.kernel is not None
    return await process_source(plugin.kernel, plan, _ITEM.decode(item), pipeline=decoded_job.pipeline,
                                options=decoded_job.options)


async def check_worker(plugin_name: str, job: bytes, dask_worker: Any = None) -> str:
    """Run on every worker (`Client.run`) before the batch: the plan's fingerprint there (or WorkerMismatch)."""
    worker, plugin = _worker_plugin(plugin_name, dask_worker)
    decoded_job, _ = plugin.plan(job, worker.address)
    return decoded_job.fingerprint


# ---- the client side ----------------------------------------------------------------------

class DaskExecutor:
    """`Executor` on a Dask client: sources in, outcomes out as they finish, a bounded number in flight."""

    def __init__(self, client: Any, plugin_name: str, *, in_flight: int | None = None,
                 options: WorkOptions = WorkOptions(), retries: int = RETRIES, dashboard_link: str | None = None,
                 where: str = "") -> None:
        self.client = client
        self.plugin_name = plugin_name
        self.in_flight = in_flight
        self.options = options
        self.retries = retries
        self.dashboard_link = dashboard_link
        self.where = where
        self.workers = 1            # documents the cluster runs at once (its workers' task slots)
        self.worker_processes = 1   # Dask workers, each with its Qualia kernel
        self._limit_checked = 0.0

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

    async def map(self, items: Iterable[WorkItem], plan: list[PlannedStep], *, pipeline: str,
                  progress: StepProgress | None = None) -> AsyncIterator[SourceOutcome]:
        """Like LocalExecutor.map. `progress` (plugins' `$/progress`) is not relayed from workers.

        A worker that dies takes every task it was running with it, and Dask gives up on a task after its
        workers died `allowed-failures` times: documents that shared a worker with a document that kills it
        would go down with it. So those are run again at the end, one at a time, and only a document that
        kills its worker on its own is reported (step `worker`).
        """
        job = _MSGPACK.encode(Job.of(plan, pipeline, self.options))
        await self._check_workers(job)
        suspects: list[WorkItem] = []
        async for outcome in self._stream(iter(items), job, suspects):
            yield outcome
        async for outcome in self._stream(iter(suspects), job, None, limit=1):
            yield outcome

    async def _stream(self, items: Iterator[WorkItem], job: bytes, suspects: list[WorkItem] | None, *,
                      limit: int | None = None) -> AsyncIterator[SourceOutcome]:
        """Submit items (a bounded number in flight), yield outcomes as tasks finish. With `suspects`, an item
        whose workers all died is put there instead of failing."""
        import distributed

        completed = distributed.as_completed(loop=self.client.loop)
        running: dict[Any, tuple[WorkItem, str]] = {}
        exhausted = False
        try:
            while True:
                in_flight = limit or await self.limit()
                while not exhausted and len(running) < in_flight:
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                        break
                    loaded = load_item(item)
                    if isinstance(loaded, SourceOutcome):  # unreadable here: reported as a local batch does
                        yield loaded
                        continue
                    future = await self._submit(loaded, job)
                    running[future] = (item, hashlib.sha256(loaded.data).hexdigest() if loaded.data else "")
                    completed.add(future)
                if not running:
                    return
                future = await anext(completed)
                item, digest = running.pop(future)
                outcome = await self._outcome(future, item, digest, alone=suspects is None)
                future.release()
                if outcome is None and suspects is not None:
                    suspects.append(item)
                elif outcome is not None:
                    yield outcome
        finally:
            if running:
                await self.client.cancel(list(running), force=True)

    async def _submit(self, item: WorkItem, job: bytes) -> Any:
        from distributed import Future

        payload: bytes | Future = _MSGPACK.encode(item)
        if len(payload) > SCATTER_BYTES:  # big files travel as data, not inside the task graph
            payload = await self.client.scatter(payload, hash=False)
        return self.client.submit(run_source, self.plugin_name, job, payload, key=f"qualia-source-{uuid.uuid4().hex}",
                                  retries=self.retries, pure=False)

    async def _outcome(self, future: Any, item: WorkItem, digest: str, *, alone: bool) -> SourceOutcome | None:
        """The task's outcome, a failure for a task that raised, None for one whose workers all died (unless it
        ran alone: then that is its failure)."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        try:
            return await future
        except KilledWorker as exc:
            if not alone:
                return None
            failure = Failure(step="worker", code="worker_lost",
                              message=f"the Dask workers running it died on every attempt, also when it ran alone "
                                      f"({exc})")
        except FutureCancelledError as exc:
            raise ClusterUnavailable(f"the Dask scheduler {self.where} dropped the batch's tasks ({exc.reason}); "
                                     f"a re-run resumes", address=self.where) from None
        except QualiaError as exc:
            failure = Failure(step="worker", code=exc.code, message=exc.message)
        except Exception as exc:
            failure = Failure(step="worker", code="internal_error", message=f"{type(exc).__name__}: {exc}")
        return SourceOutcome(key=item.key, path=item.path, sha256=digest, error=failure)

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


@asynccontextmanager
async def open_cluster(cluster: str, settings: Settings, *, options: WorkOptions = WorkOptions(),
                       in_flight: int | None = None, wait_for_workers_s: float = WAIT_FOR_WORKERS_S
                       ) -> AsyncIterator[DaskExecutor]:
    """Start (`local:N`) or reach (`tcp://...`) a cluster, put a Qualia kernel on every worker, yield the
    executor; on exit the kernels (and their plugin processes) stop, and a local cluster closes."""
    target = parse_cluster(cluster)
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtra(f"--cluster needs Dask distributed ({exc}): {DASK_INSTALL}", extra="dask") from None
    async with AsyncExitStack() as stack:
        if target.local:
            cluster_object = await distributed.LocalCluster(
                n_workers=target.workers, processes=True, threads_per_worker=DOCUMENTS_PER_WORKER, host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # a free port: never the default 8787 another cluster holds
                asynchronous=True, silence_logs=logging.CRITICAL)  # the batch reports what fails itself
            stack.push_async_callback(_close_local, cluster_object)
            client = await stack.enter_async_context(distributed.Client(cluster_object, asynchronous=True))
            where = cluster_object.scheduler_address
            await client.wait_for_workers(target.workers)
        else:
            where = str(target.address)
            client = await _connect(distributed, where)
            stack.push_async_callback(client.close)
            try:
                await client.wait_for_workers(1, timeout=wait_for_workers_s)
            except (TimeoutError, asyncio.TimeoutError):
                raise ClusterUnavailable(f"the Dask scheduler {where} has no worker (waited {wait_for_workers_s:g} s); "
                                         f"start some with `dask worker {where}`", address=where) from None
        name = f"qualia-kernel-{uuid.uuid4().hex[:12]}"
        plugin = KernelPlugin(_MSGPACK.encode(settings), worker_paths=not target.local)
        try:
            await client.register_plugin(plugin, name=name)
        except QualiaError:
            raise
        except Exception as exc:
            raise ClusterUnavailable(f"the Qualia kernel did not start on a worker of {where}: {exc}",
                                     address=where) from None
        stack.push_async_callback(_unregister, client, name)
        executor = DaskExecutor(client, name, options=options, in_flight=in_flight, where=where,
                                dashboard_link=await _dashboard(client))
        await executor.refresh()
        yield executor


async def _close_local(cluster: Any) -> None:
    """Close a local cluster; should Dask trip over a worker it was restarting (a worker killed at the end of the
    batch), kill what is left of the worker processes rather than fail a batch whose results are on disk."""
    pids = [nanny.pid for nanny in list(cluster.workers.values()) if getattr(nanny, "pid", None)]
    try:
        await cluster.close()
    except Exception as exc:
        log.warning("closing the local Dask cluster: %r; killing its worker processes", exc)
        import psutil

        for pid in pids:
            try:
                worker = psutil.Process(pid)
                for process in [*worker.children(recursive=True), worker]:
                    process.kill()
            except psutil.Error:
                continue


async def _connect(distributed: Any, address: str) -> Any:
    try:
        return await distributed.Client(address, asynchronous=True)
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler {address}: {exc}", address=address) from None


async def _unregister(client: Any, name: str) -> None:
    """Stop the batch's kernels on the workers that are still there; a cluster going away is not an error."""
    if client.status != "running":
        return
    try:
        await client.unregister_worker_plugin(name)
    except Exception as exc:
        log.warning("could not stop the Qualia kernels on the cluster: %s", exc)


async def _dashboard(client: Any) -> str | None:
    """The scheduler's dashboard link, when it has one: without bokeh its /status page is only a notice."""
    try:
        link = client.dashboard_link
        has_bokeh = await client.run_on_scheduler(lambda: importlib.util.find_spec("bokeh") is not None)
    except Exception as exc:  # an old or locked-down scheduler: no link is only a missing nicety
        log.info("no dashboard link: %s", exc)
        return None
    return link if link and has_bokeh else None
