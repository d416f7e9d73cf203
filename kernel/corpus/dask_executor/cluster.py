"""Reaching a cluster: `local:N` (a LocalCluster here) or `tcp://HOST:PORT` (an existing scheduler), a Qualia
kernel registered on every worker, the dashboard link, and a clean stop."""
from __future__ import annotations

import asyncio
import importlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import msgspec

from ...errors import ClusterUnavailable, MissingExtra, QualiaError, UsageError
from ...settings import Settings
from ..executor import DASK_INSTALL
from ..work import WorkOptions
from .client import DaskExecutor
from .worker import DOCUMENTS_PER_WORKER, MSGPACK, KernelPlugin

__all__ = ["ClusterTarget", "open_cluster", "parse_cluster"]

log = logging.getLogger("qualia.corpus.dask")

WAIT_FOR_WORKERS_S = 60.0    # an existing scheduler with no worker: how long to wait for one
# Dask keeps the last `distributed.admin.low-level-log-length` (1000) messages of every batched stream for
# debugging, and a chunk's files travel in the client's update-graph and the scheduler's compute-task messages:
# 1000 chunks of files would stay in memory. The client and a local cluster keep this many instead.
MESSAGE_LOG_LENGTH = 16

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


@asynccontextmanager
async def open_cluster(cluster: str, settings: Settings, *, options: WorkOptions = WorkOptions(),
                       in_flight: int | None = None, wait_for_workers_s: float = WAIT_FOR_WORKERS_S,
                       chunk: int | None = None) -> AsyncIterator[DaskExecutor]:
    """Start (`local:N`) or reach (`tcp://...`) a cluster, put a Qualia kernel on every worker, yield the
    executor; on exit the kernels (and their plugin processes) stop, and a local cluster closes."""
    target = parse_cluster(cluster)
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtra(f"--cluster needs Dask distributed ({exc}): {DASK_INSTALL}", extra="dask") from None
    import dask

    async with AsyncExitStack() as stack:
        # read when the client's, the scheduler's and the workers' streams are made (local workers inherit it)
        stack.enter_context(dask.config.set({"distributed.admin.low-level-log-length": MESSAGE_LOG_LENGTH}))
        if target.local:
            cluster_object = await distributed.LocalCluster(
                n_workers=target.workers, processes=True, threads_per_worker=DOCUMENTS_PER_WORKER, host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # a free port: never the default 8787 another cluster holds
                asynchronous=True, silence_logs=logging.CRITICAL)  # the batch reports what fails itself
            stack.push_async_callback(_close_local, cluster_object)
            # results come straight from the workers (all on 127.0.0.1), not relayed by the scheduler
            client = await stack.enter_async_context(distributed.Client(cluster_object, asynchronous=True,
                                                                        direct_to_workers=True))
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
        plugin = KernelPlugin(MSGPACK.encode(settings), worker_paths=not target.local)
        try:
            await client.register_plugin(plugin, name=name)
        except QualiaError:
            raise
        except Exception as exc:
            raise ClusterUnavailable(f"the Qualia kernel did not start on a worker of {where}: {exc}",
                                     address=where) from None
        stack.push_async_callback(_unregister, client, name)
        executor = DaskExecutor(client, name, options=options, in_flight=in_flight, where=where, chunk=chunk,
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
        # the scheduler runs in this process: stop it too, and mark the cluster closed (a failed close leaves it
        # "closing", and a library caller's process would keep a scheduler and warn of an unclosed cluster)
        from distributed.core import Status

        try:
            await cluster.scheduler.close()
        except Exception as exc:
            log.warning("closing the local Dask scheduler: %r", exc)
        cluster.status = Status.closed


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
    """The scheduler's dashboard link, when it has one: it needs bokeh, without which /status is only a notice."""

    def has_bokeh() -> bool:  # nested, so it travels by value: the scheduler need not have Qualia installed
        try:
            importlib.import_module("bokeh")
        except ImportError:
            return False
        return True

    try:
        link = client.dashboard_link
        bokeh = await client.run_on_scheduler(has_bokeh)
    except Exception as exc:  # an old or locked-down scheduler: no link is only a missing nicety
        log.info("no dashboard link: %s", exc)
        return None
    return link if link and bokeh else None
