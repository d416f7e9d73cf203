"""The batch on a Dask cluster: one Qualia kernel per worker, the same unit of work as the local executor.

`open_cluster("local:N" | "tcp://HOST:PORT", settings)` yields a `DaskExecutor`
(the same `map` as `LocalExecutor`, so `run_batch`, the store, the index and
the resume rule are unchanged). Dask owns scheduling and faults; we own the
unit of work:

- `worker.KernelPlugin`, a `distributed.WorkerPlugin`, starts a `Kernel` on
  each worker's event loop in `setup` (plugins discovered on that worker) and
  stops it, with its plugin processes, in `teardown` (the worker closing, or
  the batch unregistering the plugin). A worker that joins or is restarted
  later gets one too.
- `worker.run_chunk`, the task, is a coroutine run on that loop: a chunk of
  sources, each through the whole pipeline with `process_source`, so results
  are the local executor's byte for byte. The pipeline and settings, the
  chunk (files' bytes included: workers need not see the client's files) and
  the outcomes travel as msgspec bytes. Plugins' `$/progress` comes back as
  scheduler events (`Worker.log_event`), throttled, to the map's listener.
- `client.DaskExecutor` keeps a bounded number of chunks in flight, sized
  from the documents' timings, and yields outcomes as chunks finish
  (`distributed.as_completed`); each is written to disk by the caller and
  released, so client memory stays flat. A worker that dies mid-task has its
  tasks rescheduled by the scheduler; a task that raises is retried
  (`retries=`); the sources of a chunk that still failed are run again alone
  at the end, so a document that kills its worker (or fails its task) is
  reported alone (step `worker`) and the others are not blamed.

Dask is an optional extra: the batch command imports this package only for
`--cluster`, and without Dask `open_cluster` says what to install.
"""
from .client import CHUNK_BYTES, MAX_CHUNK, RETRIES, SCATTER_BYTES, TARGET_TASK_S, DaskExecutor
from .cluster import WAIT_FOR_WORKERS_S, ClusterTarget, open_cluster, parse_cluster
from .worker import DOCUMENTS_PER_WORKER, Job, KernelPlugin, ProgressRelay, run_chunk, run_source

__all__ = ["CHUNK_BYTES", "DOCUMENTS_PER_WORKER", "MAX_CHUNK", "RETRIES", "SCATTER_BYTES", "TARGET_TASK_S",
           "WAIT_FOR_WORKERS_S", "ClusterTarget", "DaskExecutor", "Job", "KernelPlugin", "ProgressRelay",
           "open_cluster", "parse_cluster", "run_chunk", "run_source"]
