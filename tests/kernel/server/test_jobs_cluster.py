"""The service's jobs on a Dask cluster (`qualia serve --cluster`), with their progress on /monitor.

A real server on 127.0.0.1 with a LocalCluster of 2 worker processes (each
with its own Qualia kernel): a 20-document job gives the results of the same
job on a server without a cluster, its SSE stream and callback flow as for a
local job, and the /monitor stream shows the cluster, the job running on it
with its documents done, then finished. An unreachable scheduler leaves the
server up (/health, analyses) and answers POST /jobs with a 503 naming it,
in process and through `qualia serve --cluster` in a subprocess.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from qualia.kernel.jobs import JobSettings
from qualia.kernel.server.cluster import CLUSTER
from tests.conftest import PROJECT

from ..jobs_support import Receiver, slow_plugin, wait_for, wait_job
from .conftest import error_of, json_of
from .test_jobs_api import FAST, read_events, submit
from .test_monitor import fast_monitor, next_matching, sse_blocks
from .test_webhooks import configure

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(240)

WORDS_PT = "a reunião foi ótima e o projeto avança bem mas o prazo preocupa a equipe"
WORDS_EN = "the meeting went well although the budget worries everyone on the team"
DOCUMENTS = [{"id": f"doc{i:02d}", "text": f"{(WORDS_PT if i % 2 else WORDS_EN)} {i} " * (1 + i % 4)}
             for i in range(20)]
# The slow step (0.1 s a document, one process per worker) keeps the job running for a second or more, so the
# dashboard (a snapshot every 0.2 s) sees it mid-way.
PIPELINE = {"name": "on-cluster", "steps": [{"plugin": "word_frequency"}, {"plugin": "sentiment_analyzer"},
                                            {"plugin": "slow", "config": {"delay": 0.1}}]}


@pytest.fixture
def resource_tracker() -> Iterator[None]:
    """multiprocessing's resource tracker, which a LocalCluster's spawned workers start and which would live as
    long as this process: started before the server fixture notes the children it must not leave behind, and
    stopped afterwards (a private but long-standing helper), so later tests find no extra child."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    yield
    resource_tracker._resource_tracker._stop()


def setup(app) -> None:
    configure(JobSettings(**FAST))(app)
    fast_monitor(app)


def comparable(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A job's documents without the timings, which differ from run to run."""
    return [{**document, "steps": [{**step, "elapsed_ms": 0} for step in document["steps"]]}
            for document in documents]


def job_in(snapshot: Any, job_id: str) -> dict[str, Any] | None:
    return next((job for job in snapshot.data["jobs"]["jobs"] if job["id"] == job_id), None)


def closed_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_job_on_a_local_cluster_gives_the_local_results_and_shows_its_progress(resource_tracker, serve,
                                                                                       plugin_dir, tmp_path):
    slow_plugin(plugin_dir)
    receiver = await Receiver().start()
    try:
        served = await serve(bundled=True, setup=setup, cluster="local:2")
        async with served.session.get("/monitor/stream") as monitor:
            blocks = sse_blocks(monitor)
            # the cluster opens in the background; meanwhile the server already answers
            async with served.session.get("/health") as response:
                assert response.status == 200
            ready = await next_matching(
                blocks, lambda b: b.event == "snapshot" and b.data["jobs"]["executor"]["state"] == "ready",
                timeout=120, what="the cluster ready")
            executor = ready.data["jobs"]["executor"]
            assert executor["kind"] == "dask" and executor["address"].startswith("tcp://127.0.0.1:"), executor
            assert executor["workers"] == 2 and executor["slots"] == 8 and executor["problem"] is None
            address = executor["address"]

            accepted = await submit(served, {"pipeline": PIPELINE, "documents": DOCUMENTS,
                                             "callback_url": receiver.url})
            job_id = accepted["job_id"]
            events = asyncio.ensure_future(read_events(served.session, job_id))
            seen: list[dict[str, Any]] = []  # the job in every snapshot, until it has finished

            def finished(block: Any) -> bool:
                if block.event != "snapshot" or (job := job_in(block, job_id)) is None:
                    return False
                seen.append(job)
                return job["state"] == "succeeded"

            last = await next_matching(blocks, finished, timeout=120, what="the job finished on /monitor")
        _, stream = await asyncio.wait_for(events, 30)
        await asyncio.wait_for(receiver.delivered.wait(), 15)
    finally:
        await receiver.stop()

    # /monitor: the job ran on the cluster, its count of documents going up, then finished
    running = [job for job in seen if job["state"] == "running"]
    assert running and all(job["executor"] == address for job in running), seen
    assert any(0 < job["done"] < 20 for job in running), [job["done"] for job in seen]
    dones = [job["done"] for job in seen]
    assert dones == sorted(dones) and all(job["total"] == 20 for job in seen)
    final = job_in(last, job_id)
    assert final["done"] == 20 and final["failed"] == 0 and final["executor"] is None and final["finished"]
    assert last.data["jobs"]["succeeded"] >= 1
    # the documents went to the workers' kernels: the server's own never started these plugins
    plugins = {plugin["id"]: plugin for plugin in last.data["plugins"]}
    assert all(plugins[name]["calls"] == 0 and not plugins[name]["processes"]
               for name in ("word_frequency", "sentiment_analyzer", "slow")), plugins

    # the job's SSE stream: its state, its documents counted up to the end, then the whole job
    progress = [data for name, data in stream if name == "progress"]
    assert progress[-1] == {"id": job_id, "done": 20, "total": 20, "failed": 0}
    assert [data["done"] for data in progress] == sorted({data["done"] for data in progress})
    assert [data["state"] for name, data in stream if name == "state"][-1] == "succeeded"
    done = [data for name, data in stream if name == "done"]
    assert len(done) == 1 and done[0]["state"] == "succeeded"
    cluster_documents = done[0]["result"]["documents"]

    # the callback got the finished job, as for a local job
    delivered = receiver.requests[-1][2]
    assert b'"state":"succeeded"' in delivered and job_id.encode() in delivered

    # the same job on a server without a cluster (its own home: no result from the cache)
    local = await serve(bundled=True, setup=setup, home=tmp_path / "local-home")
    accepted = await submit(local, {"pipeline": PIPELINE, "documents": DOCUMENTS})
    job = await wait_job(local.session, accepted["job_id"], timeout=60)
    assert job["state"] == "succeeded", job
    assert len(cluster_documents) == 20
    assert comparable(cluster_documents) == comparable(job["result"]["documents"])
    async with local.session.get("/monitor/stream") as monitor:
        snapshot = await next_matching(sse_blocks(monitor), lambda b: b.event == "snapshot")
    assert snapshot.data["jobs"]["executor"] == {"kind": "local", "state": "ready", "address": None,
                                                 "dashboard": None, "workers": 1, "slots": 0, "problem": None}


async def test_an_unreachable_scheduler_refuses_jobs_with_a_503_naming_it_and_the_rest_still_serves(serve):
    import dask

    address = f"tcp://127.0.0.1:{closed_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        served = await serve(bundled=True, setup=setup, cluster=address)
        async with served.session.get("/monitor/stream") as monitor:
            down = await next_matching(
                sse_blocks(monitor), lambda b: b.event == "snapshot"
                and b.data["jobs"]["executor"]["state"] == "unavailable", timeout=30, what="the cluster unavailable")
    executor = down.data["jobs"]["executor"]
    assert executor["kind"] == "dask" and executor["address"] == address and executor["workers"] == 0
    assert f"cannot reach the Dask scheduler {address}" in executor["problem"]

    async with served.session.post("/jobs", json={"plugin": "word_frequency", "text": "uma frase"}) as response:
        error = await error_of(response, 503, "cluster_unavailable")
        assert response.headers["Retry-After"] == "30"
    assert f"jobs run on the Dask cluster {address}, which is unavailable: cannot reach the Dask scheduler" \
        in error["message"]
    assert error["details"]["address"] == address
    async with served.session.get("/jobs") as response:
        assert (await json_of(response))["jobs"] == []  # nothing was queued
    async with served.session.get("/health") as response:
        assert response.status == 200
    async with served.session.post("/analyze/word_frequency", json={"text": "uma frase boa"}) as response:
        assert response.status == 200, await response.text()


DASK = str(Path(sys.executable).parent / "dask")


def start_dask(port: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """A `dask scheduler` on 127.0.0.1:port and one `dask worker` (4 task slots)."""
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", "127.0.0.1:0"], env=env, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([DASK, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "4", "--nworkers", "1",
                               "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)
    return [scheduler, worker]


def stop_dask(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(20)


async def test_a_lost_scheduler_is_reported_and_reopened_when_it_is_back(serve, tmp_path):
    import dask

    port = closed_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "worker-home"), "PYTHONPATH": str(PROJECT)}

    def quick_retries(app) -> None:
        setup(app)
        app[CLUSTER].retry_s = 0.5

    async def executor_state(served, state: str) -> dict[str, Any]:
        async with served.session.get("/monitor/stream") as monitor:
            snapshot = await next_matching(
                sse_blocks(monitor), lambda b: b.event == "snapshot"
                and b.data["jobs"]["executor"]["state"] == state, timeout=90, what=f"the cluster {state}")
        return snapshot.data["jobs"]["executor"]

    async def run_job(served) -> dict[str, Any]:
        accepted = await submit(served, {"plugin": "word_frequency", "documents": ["uma frase", "outra frase"]})
        return await wait_job(served.session, accepted["job_id"], timeout=60)

    dask_processes = start_dask(port, env)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
            served = await serve(bundled=True, setup=quick_retries, cluster=address)
            ready = await executor_state(served, "ready")
            assert ready["workers"] == 1 and ready["slots"] == 4
            assert (await run_job(served))["state"] == "succeeded"

            stop_dask(dask_processes)  # the scheduler and its worker die
            lost = await executor_state(served, "unavailable")
            assert address in lost["problem"], lost
            async with served.session.post("/jobs", json={"plugin": "word_frequency", "text": "x"}) as response:
                await error_of(response, 503, "cluster_unavailable")

            dask_processes = start_dask(port, env)  # back on the same address: picked up again
            await executor_state(served, "ready")
            job = await run_job(served)
            assert job["state"] == "succeeded" and job["progress"]["done"] == 2, job
    finally:
        stop_dask(dask_processes)


async def test_qualia_serve_takes_the_cluster_flag_and_says_which_cluster_is_unreachable(tmp_path):
    address = f"tcp://127.0.0.1:{closed_port()}"
    port = closed_port()
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_ACCESS_LOG": "0",
           "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s", "PYTHONPATH": str(PROJECT)}
    env.pop("QUALIA_DASK_SCHEDULER", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "qualia.kernel.cli", "serve", "--port", str(port),
                                    "--cluster", address], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            async def refused() -> dict[str, Any] | None:
                assert process.poll() is None, log.read_text()
                try:
                    async with session.post("/jobs", json={"plugin": "word_frequency", "text": "x y"}) as response:
                        body = await response.json()
                        return body["error"] if response.status == 503 else None
                except aiohttp.ClientError:
                    return None

            error = await wait_for(refused, timeout=60, interval=0.2)
            assert error["code"] == "cluster_unavailable"
            assert f"jobs run on the Dask cluster {address} (flag --cluster), which is unavailable" in error["message"]
            async with session.get("/health") as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert f"jobs cannot run on the Dask cluster {address}" in log.read_text()


def test_a_bad_cluster_value_stops_qualia_serve_with_a_usage_error(tmp_path: Path):
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_DASK_SCHEDULER": "scheduler:8786",
           "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-m", "qualia.kernel.cli", "serve", "--port", "0"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "QUALIA_DASK_SCHEDULER='scheduler:8786': expected local:N" in done.stderr


def test_qualia_serve_with_a_cluster_but_without_dask_says_what_to_install(tmp_path: Path):
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "PYTHONPATH": str(PROJECT)}
    code = ("import sys; sys.modules['distributed'] = None; from qualia.kernel.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "serve", "--port", "0", "--cluster", "local:2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert ("jobs on the Dask cluster local:2 (flag --cluster) need Dask distributed: "
            "pip install 'qualia-core[dask]'") in done.stderr
