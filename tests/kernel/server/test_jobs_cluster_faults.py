"""Faults of a job on the Dask cluster: the scheduler lost while documents are in flight.

Real `dask scheduler` / `dask worker` subprocesses on 127.0.0.1, a real server and HTTP clients. The job goes back
to the queue and, once the scheduler is back on the same address, ends succeeded with every document exactly once.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from qualia.kernel.jobs import JobSettings
from qualia.kernel.server.cluster import CLUSTER
from tests.conftest import PROJECT

from ..jobs_support import runs, slow_plugin, wait_for, wait_job
from .test_jobs_api import FAST, read_events, submit
from .test_jobs_cluster import closed_port, job_in, start_dask, stop_dask
from .test_monitor import fast_monitor, next_matching, sse_blocks
from .test_webhooks import configure

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(240)

DOCUMENTS = [{"id": f"doc{i:02d}", "text": f"documento número {i} da reunião"} for i in range(16)]
# one slow process on the worker (4 task slots, one process per 4): 0.25 s a document, so the job runs ~4 s and
# the kill lands with documents in flight
PIPELINE = {"name": "slow-on-cluster", "steps": [{"plugin": "word_frequency"},
                                                 {"plugin": "slow", "config": {"delay": 0.25}}]}


def stop_worker_tree(worker: Any) -> None:
    """The `dask worker` and its worker process (killing the nanny alone would leave that one to rejoin)."""
    import psutil

    try:
        processes = [*psutil.Process(worker.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(processes, timeout=20)


async def test_a_scheduler_lost_mid_job_sends_it_back_to_the_queue_and_it_ends_with_every_document_once(
        serve, plugin_dir, tmp_path):
    import dask

    port = closed_port()
    address = f"tcp://127.0.0.1:{port}"
    folder = slow_plugin(plugin_dir)
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "worker-home"), "QUALIA_PLUGIN_PATH": str(plugin_dir),
           "PYTHONPATH": str(PROJECT)}

    def setup(app) -> None:
        configure(JobSettings(**{**FAST, "retry_delay_s": 0.3}))(app)
        fast_monitor(app)
        app[CLUSTER].retry_s = 0.5

    dask_processes = start_dask(port, env)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
            served = await serve(bundled=True, setup=setup, cluster=address)
            async with served.session.get("/monitor/stream") as monitor:
                blocks = sse_blocks(monitor)
                await next_matching(blocks, lambda b: b.event == "snapshot"
                                    and b.data["jobs"]["executor"]["state"] == "ready", timeout=90,
                                    what="the cluster ready")
                accepted = await submit(served, {"pipeline": PIPELINE, "documents": DOCUMENTS})
                job_id = accepted["job_id"]
                events = asyncio.ensure_future(read_events(served.session, job_id))

                # documents in flight: some done by the slow step, most not
                await wait_for(lambda: len(runs(folder)) >= 3 or None, timeout=60, interval=0.05)
                scheduler = dask_processes[0]
                scheduler.kill()
                scheduler.wait(20)
                seen: list[dict[str, Any]] = []

                def requeued(block: Any) -> bool:
                    if block.event == "snapshot" and (job := job_in(block, job_id)) is not None:
                        seen.append({**job, "executor_state": block.data["jobs"]["executor"]["state"]})
                        return job["state"] == "queued"
                    return False

                await next_matching(blocks, requeued, timeout=60, what="the job back in the queue on /monitor")
                assert len(runs(folder)) < len(DOCUMENTS), "the job had finished before the scheduler was lost"
                async with served.session.get(f"/jobs/{job_id}") as response:
                    waiting = await response.json()

                # the scheduler back on the same address; a `dask worker` closes once it has lost its scheduler
                # (Dask's own rule), so a worker is started again with it, as a supervisor would
                stop_worker_tree(dask_processes[1])
                stop_dask(dask_processes)
                dask_processes = start_dask(port, env)
                job = await wait_job(served.session, job_id, timeout=120)
                await asyncio.wait_for(events, 30)
    finally:
        stop_dask(dask_processes)

    assert job["state"] == "succeeded", (job["attempts"], job["error"])
    assert job["attempts"] >= 2, job
    # every document exactly once, in order, none lost or duplicated
    documents = job["result"]["documents"]
    assert [document["index"] for document in documents] == list(range(len(DOCUMENTS)))
    assert [document["document_id"] for document in documents] == [document["id"] for document in DOCUMENTS]
    assert all(document["steps"][-1]["result"]["echo"] for document in documents)
    assert job["progress"]["done"] == len(DOCUMENTS) and job["progress"]["failed"] == 0
    # the monitor showed the job re-queued after it had run, with the reason naming the scheduler
    states = [entry["state"] for entry in seen]
    assert states[-1] == "queued" and "running" in states, seen
    _, stream = events.result()
    sent = [(data["state"], data["attempts"]) for name, data in stream if name == "state"]
    assert ("running", 1) in sent and ("queued", 1) in sent and sent[-1][0] == "succeeded", sent
    assert sent.index(("queued", 1)) > sent.index(("running", 1)), sent
    # while it waited, the job said why: the scheduler it lost
    assert waiting["state"] == "queued" and waiting["error"]["code"] == "cluster_unavailable", waiting
    assert address in waiting["error"]["message"], waiting


async def test_a_plugin_whose_breaker_is_open_on_the_worker_requeues_the_job_as_locally(serve, plugin_dir, tmp_path):
    """Three crashes open the plugin's breaker on the worker's kernel (for a second): the documents after them are
    not failed at step `worker` but the job goes back to the queue; its next attempt crashes the half-open plugin
    again, and at QUALIA_JOB_MAX_ATTEMPTS the job fails naming the open breaker, as on a server without a cluster."""
    import dask

    slow_plugin(plugin_dir)
    port = closed_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "worker-home"), "QUALIA_PLUGIN_PATH": str(plugin_dir),
           "PYTHONPATH": str(PROJECT)}
    body = {"plugin": "slow", "documents": ["crash"] * 8}

    def setup(app) -> None:
        configure(JobSettings(**{**FAST, "retry_delay_s": 0.2, "max_attempts": 2}))(app)
        fast_monitor(app)

    async def run(served) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        accepted = await submit(served, body)
        _, stream = await asyncio.wait_for(read_events(served.session, accepted["job_id"]), 90)
        return (await wait_job(served.session, accepted["job_id"], timeout=30),
                [(data["state"], data["attempts"]) for name, data in stream if name == "state"])

    dask_processes = start_dask(port, env)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
            served = await serve(bundled=True, setup=setup, cluster=address, breaker_open_s=1.0)
            async with served.session.get("/monitor/stream") as monitor:
                await next_matching(sse_blocks(monitor), lambda b: b.event == "snapshot"
                                    and b.data["jobs"]["executor"]["state"] == "ready", timeout=90,
                                    what="the cluster ready")
            on_cluster, states = await run(served)
    finally:
        stop_dask(dask_processes)
    local, _ = await run(await serve(setup=setup, home=tmp_path / "local-home", breaker_open_s=1.0))

    for job in (on_cluster, local):
        assert job["state"] == "failed" and job["attempts"] == 2, job
        assert job["error"]["code"] == "breaker_open" and "gave up after 2 attempts" in job["error"]["message"], job
    assert states[:2] == [("running", 1), ("queued", 1)] and states[-2:] == [("running", 2), ("failed", 2)], states
    # no document was blamed for the worker's state: the crashes failed at the plugin's step, the rest did not run
    documents = on_cluster["result"]["documents"]
    assert all(document["error"]["details"]["step"] != "worker" for document in documents if "error" in document)
    assert len(documents) < len(body["documents"]), documents
