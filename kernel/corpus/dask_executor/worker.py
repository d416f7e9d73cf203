"""The worker side: one Qualia kernel per Dask worker, and the task that runs a chunk of sources on it.

What travels is msgspec bytes, not pickles: the job (pipeline and options, planned again on the worker and
checked against the client's fingerprint), the chunk of work items (each with its file's bytes), and the
chunk's outcomes (the runs' JSON bytes untouched, so the client writes exactly what a local batch writes).
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk import protocol as p

from ...errors import ClusterUnavailable, Unavailable, WorkerMismatch
from ...kernel import Kernel
from ...pipeline import PipelineError, PipelineSpec, PlannedStep, Step, plan_pipeline
from ...settings import Settings
from ..work import Failure, SourceOutcome, WorkItem, WorkOptions, plan_fingerprint, process_source

__all__ = ["Job", "KernelPlugin", "ProgressRelay", "check_worker", "decode_outcomes", "encode_chunk",
           "encode_outcomes", "run_chunk", "run_source", "unavailable_error"]

log = logging.getLogger("qualia.corpus.dask")

# Documents a worker runs at once (its Dask task slots, `threads_per_worker` of local:N): the tasks are coroutines on
# the worker's event loop, so no thread runs them; several in flight pipeline through the steps as in the local
# executor (one in the cleaner while another is scored), and each plugin keeps one process per this many slots.
# Measured with bench_batch.py on 2 shared cores, 50 KB transcripts: one document per worker leaves the plugins idle
# between steps (0.52-0.63 of the local throughput), four reach 0.70-0.95 (the spread is the machine's other load).
DOCUMENTS_PER_WORKER = 4
PROGRESS_EVERY_S = 0.25  # a plugin's `$/progress` for one document and step goes to the client at most this often


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


class _Outcomes(msgspec.Struct, array_like=True):
    """A chunk's outcomes on the wire. The runs (JSON bytes, `msgspec.Raw` in a DocumentOutcome) travel apart,
    one per document in order: msgpack cannot carry Raw JSON inline."""

    outcomes: list[SourceOutcome]
    runs: list[bytes | None]
    # a plugin the worker's kernel could not use now (busy, breaker open, stopping) with `raise_unavailable`:
    # the outcomes before it, then this; the client raises it as the local executor would
    unavailable: Failure | None = None


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(f"cannot decode {kind.__name__}")


MSGPACK = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_JOB = msgspec.msgpack.Decoder(Job)
_ITEM = msgspec.msgpack.Decoder(WorkItem)
_CHUNK = msgspec.msgpack.Decoder(list[WorkItem])
_OUTCOMES = msgspec.msgpack.Decoder(_Outcomes)
SETTINGS = msgspec.msgpack.Decoder(Settings, dec_hook=_dec_hook)


def encode_chunk(items: list[WorkItem]) -> bytes:
    return MSGPACK.encode(items)


def encode_outcomes(outcomes: list[SourceOutcome], unavailable: Failure | None = None) -> bytes:
    runs: list[bytes | None] = []
    for outcome in outcomes:
        for document in outcome.documents:
            runs.append(None if document.run is None else bytes(document.run))
            document.run = None
    return MSGPACK.encode(_Outcomes(outcomes=outcomes, runs=runs, unavailable=unavailable))


def decode_outcomes(data: bytes) -> tuple[list[SourceOutcome], Failure | None]:
    wire = _OUTCOMES.decode(data)
    runs = iter(wire.runs)
    for outcome in wire.outcomes:
        for document in outcome.documents:
            run = next(runs)
            document.run = None if run is None else msgspec.Raw(run)
    return wire.outcomes, wire.unavailable


def unavailable_error(failure: Failure) -> Unavailable:
    """The worker's Unavailable again, by its code (BreakerOpen, PluginBusy, KernelStopped...)."""
    kinds, found = [Unavailable], Unavailable
    while kinds:
        kind = kinds.pop()
        if kind.code == failure.code:
            found = kind
            break
        kinds.extend(kind.__subclasses__())
    return found(failure.message, **failure.details)


# ---- the kernel on each worker ------------------------------------------------------------

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
        settings = SETTINGS.decode(self.settings)
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


class ProgressRelay:
    """Plugins' `$/progress` from this worker to the client, as events on the scheduler's `topic`
    (`Worker.log_event`, sent on the worker's batched stream before the task's result): per document and
    step the first note, then at most one every PROGRESS_EVERY_S, and always the last (done >= total)."""

    def __init__(self, worker: Any, topic: str, token: str) -> None:
        self.worker = worker
        self.topic = topic
        self.token = token
        self._sent: dict[tuple[str, str], float] = {}

    def __call__(self, key: str, step: str, note: p.ProgressParams) -> None:
        now = time.monotonic()
        last = note.total is not None and note.done >= note.total
        if not last and now - self._sent.get((key, step), -PROGRESS_EVERY_S) < PROGRESS_EVERY_S:
            return
        self._sent[(key, step)] = now
        self.worker.log_event(self.topic, [self.token, key, step, note.id, note.done, note.total])

    def forget(self, key: str) -> None:
        for seen in [seen for seen in self._sent if seen[0] == key]:
            del self._sent[seen]


async def run_chunk(plugin_name: str, job: bytes, chunk: bytes, progress: tuple[str, str] | None = None) -> bytes:
    """The task: a chunk of sources, one after the other, through the job's pipeline on this worker's kernel
    (the worker's task slots run several chunks at once). `progress` is (topic, token) to relay `$/progress`."""
    worker, plugin = _worker_plugin(plugin_name)
    decoded_job, plan = plugin.plan(job, worker.address)
    assert plugin.kernel is not None
    relay = None if progress is None else ProgressRelay(worker, *progress)
    outcomes = []
    for item in _CHUNK.decode(chunk):
        try:
            outcomes.append(await process_source(plugin.kernel, plan, item, pipeline=decoded_job.pipeline,
                                                 options=decoded_job.options, progress=relay))
        except Unavailable as exc:  # only with raise_unavailable: not Dask's to retry, the caller's to requeue
            return encode_outcomes(outcomes, Failure(step="worker", code=exc.code, message=f"worker {worker.address}: "
                                                     f"{exc.message}", details=exc.details))
        if relay is not None:
            relay.forget(item.key)
    return encode_outcomes(outcomes)


async def run_source(plugin_name: str, job: bytes, item: bytes) -> SourceOutcome:
    """One source (a msgpack WorkItem) through the job's pipeline on this worker's kernel."""
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
