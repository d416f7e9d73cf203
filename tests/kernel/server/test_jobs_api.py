"""Durable jobs over HTTP with a real server and client: submit, read, list, SSE, cancel, callbacks,
and a server killed with SIGKILL in the middle of a job, whose restart finishes it."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from qualia.kernel.jobs import JobSettings, JobStore
from qualia.kernel.server.jobs_service import JOBS
from qualia.kernel.signatures import verify_body
from tests.conftest import PROJECT, problem_plugin

from ..jobs_support import Receiver, runs, slow_plugin, wait_for, wait_job
from .conftest import error_of, json_of
from .test_webhooks import configure

FAST = dict(poll_s=0.1, lease_s=3.0, retention_days=0, sse_heartbeat_s=0.15, sse_retry_ms=500,
            callback_timeout_s=2.0, callback_allow_private=True)  # the callback receivers listen on 127.0.0.1


async def submit(served, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    async with served.session.post("/jobs", json=body) as response:
        answer = await json_of(response)
    assert response.status == status, answer
    return answer


async def read_events(session: aiohttp.ClientSession, job_id: str) -> tuple[list[str], list[tuple[str, Any]]]:
    """The raw lines of a job's SSE stream (to its end) and its (event, data) pairs."""
    lines: list[str] = []
    async with session.get(f"/jobs/{job_id}/events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Request-ID"]
        async for raw in response.content:
            lines.append(raw.decode().rstrip("\n"))
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return lines, events


# ---- submit, read, list ----------------------------------------------------------------------------

async def test_submit_a_plugin_job_over_many_documents_and_read_the_result(serve, plugin_dir):
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    accepted = await submit(served, {"plugin": "word_frequency", "config": {"top_n": 1},
                                     "documents": ["gato gato cão", {"id": "en", "text": "dog dog cat"},
                                                   {"document": {"text": "sol sol lua", "language": "pt"}}]})
    assert accepted["state"] == "queued" and not accepted["duplicate"]
    job = await wait_job(served.session, accepted["job_id"])
    assert job["state"] == "succeeded" and job["progress"] == {"done": 3, "total": 3, "failed": 0}
    assert job["kind"] == "plugin" and job["target"] == "word_frequency" and job["source"] == "api"
    assert job["error"] is None and job["callback"] is None and job["finished"] >= job["started"] >= job["created"]
    terms = [doc["result"]["frequencies"][0]["term"] for doc in job["result"]["documents"]]
    assert terms == ["gato", "dog", "sol"]
    assert job["result"]["documents"][1]["document_id"] == "en"


async def test_a_pipeline_is_validated_before_it_is_accepted(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=configure(JobSettings(**FAST)))
    async with served.session.post("/jobs", json={"pipeline": {"steps": [{"plugin": "echo"},
                                                                          {"plugin": "echo", "config": {"x": 1}}]},
                                                  "text": "t"}) as response:
        error = await error_of(response, 422, "invalid_pipeline")
    assert error["message"].startswith("step 2 (echo)") and error["details"]["step"] == 2
    for body, field in [({"plugin": "echo"}, "$.text"), ({"plugin": "echo", "text": 3}, "$.text"),
                        ({"plugin": "echo", "text": "t", "callback_url": "file:///etc/passwd"}, "$.callback_url"),
                        ({"plugin": "echo", "documents": []}, "$.documents")]:
        async with served.session.post("/jobs", json=body) as response:
            error = await error_of(response, 422, "invalid_request")
        assert error["details"]["field"] == field, error
    async with served.session.post("/jobs", data=b"{oops", headers={"Content-Type": "application/json"}) as response:
        await error_of(response, 400, "malformed_body")
    assert served.app[JOBS].store.count() == 0

    accepted = await submit(served, {"pipeline": {"name": "twice", "steps": [{"plugin": "echo"},
                                                                              {"plugin": "echo", "id": "again"}]},
                                     "text": "hi"})
    job = await wait_job(served.session, accepted["job_id"])
    assert job["kind"] == "pipeline" and job["target"] == "twice" and job["state"] == "succeeded"
    assert [step["id"] for step in job["result"]["documents"][0]["steps"]] == ["echo", "again"]


async def test_unknown_jobs_are_404_and_the_list_is_newest_first(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=configure(JobSettings(**FAST)))
    for path in ("/jobs/nope", "/jobs/nope/events"):
        async with served.session.get(path) as response:
            await error_of(response, 404, "unknown_job")
    async with served.session.delete("/jobs/nope") as response:
        await error_of(response, 404, "unknown_job")
    ids = [(await submit(served, {"plugin": "echo", "text": f"t{i}"}))["job_id"] for i in range(3)]
    for job_id in ids:
        await wait_job(served.session, job_id)
    async with served.session.get("/jobs", params={"limit": "2"}) as response:
        listed = await json_of(response)
    assert [job["id"] for job in listed["jobs"]] == ids[::-1][:2]
    assert "result" not in listed["jobs"][0]
    async with served.session.get("/jobs", params={"state": "succeeded"}) as response:
        assert len((await json_of(response))["jobs"]) == 3
    for query in ({"limit": "0"}, {"limit": "x"}, {"state": "done"}):
        async with served.session.get("/jobs", params=query) as response:
            await error_of(response, 422, "invalid_request")


async def test_an_unusable_job_store_turns_jobs_off_but_not_the_server(serve, fast_settings):
    fast_settings.home.mkdir(parents=True)
    foreign = fast_settings.home / "jobs.sqlite3"
    foreign.write_bytes(b"this is not a database, and it is long enough to be read as a header" * 10)
    served = await serve(setup=configure(JobSettings(**FAST)))
    async with served.session.get("/health") as response:
        assert response.status == 200
    for method, path in [("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/x")]:
        async with served.session.request(method, path, json={}) as response:
            error = await error_of(response, 503, "unavailable")
        assert str(foreign) in error["message"]


# ---- SSE and cancel ------------------------------------------------------------------------------

async def test_sse_streams_state_progress_and_done_then_ends(serve, plugin_dir):
    slow_plugin(plugin_dir)
    served = await serve(setup=configure(JobSettings(**FAST)))
    accepted = await submit(served, {"plugin": "slow", "config": {"delay": 0.25}, "documents": ["a", "b", "c"]})
    lines, events = await read_events(served.session, accepted["job_id"])
    assert lines[0] == "retry: 500"
    assert ": heartbeat" in lines  # idle while a document runs (0.25 s > 0.15 s)
    names = [name for name, _ in events]
    assert names[-1] == "done" and names.count("done") == 1
    states = [data["state"] for name, data in events if name == "state"]
    assert states[-1] == "succeeded" and "running" in states
    progress = [data["done"] for name, data in events if name == "progress"]
    assert progress == sorted(progress) and progress[-1] == 3 and len(set(progress)) >= 3
    done = events[-1][1]
    assert done["state"] == "succeeded" and [d["result"]["echo"] for d in done["result"]["documents"]] == \
        ["a", "b", "c"]
    _, again = await read_events(served.session, accepted["job_id"])  # a finished job: a snapshot, then the end
    assert [name for name, _ in again] == ["state", "progress", "done"]


async def test_cancel_a_running_job_then_409(serve, plugin_dir):
    slow_plugin(plugin_dir)
    served = await serve(setup=configure(JobSettings(**FAST)))
    accepted = await submit(served, {"plugin": "slow", "config": {"delay": 30}, "text": "long"})
    job_id = accepted["job_id"]
    await wait_job(served.session, job_id, states=("running",))
    pid = (await wait_for(lambda: served.kernel.plugin_status("slow").processes)).pop().pid
    events = asyncio.ensure_future(read_events(served.session, job_id))
    await asyncio.sleep(0.1)
    async with served.session.delete(f"/jobs/{job_id}") as response:
        cancelled = await json_of(response)
    assert response.status == 200 and cancelled["state"] == "cancelled"
    _, streamed = await asyncio.wait_for(events, 5)
    assert streamed[-1][0] == "done" and streamed[-1][1]["state"] == "cancelled"
    async with served.session.delete(f"/jobs/{job_id}") as response:
        error = await error_of(response, 409, "conflict")
    assert error["details"]["state"] == "cancelled"
    # the plugin got $/cancel and, still sleeping, was killed after the grace period: the slot is free again
    await wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   timeout=10)
    again = await submit(served, {"plugin": "slow", "text": "short"})
    assert (await wait_job(served.session, again["job_id"]))["state"] == "succeeded"


# ---- callbacks -----------------------------------------------------------------------------------

async def test_callback_retries_until_it_is_delivered_without_blocking_other_jobs(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    receiver = await Receiver(failures=2).start()
    try:
        settings = JobSettings(**{**FAST, "workers": 1, "callback_backoff_s": 0.6, "callback_secret": "cb-secret"})
        served = await serve(setup=configure(settings))
        first = await submit(served, {"plugin": "echo", "text": "with callback", "callback_url": receiver.url})
        await wait_for(lambda: len(receiver.requests) >= 1, timeout=5)
        # While the callback waits to retry, the only worker takes the next job at once.
        second = await submit(served, {"plugin": "echo", "text": "no callback"})
        done = await wait_job(served.session, second["job_id"], timeout=5)
        second_finished = time.monotonic()
        assert done["state"] == "succeeded"
        await asyncio.wait_for(receiver.delivered.wait(), 10)
        job = await wait_for(lambda: _delivered(served, first["job_id"]), timeout=5)
    finally:
        await receiver.stop()
    assert len(receiver.requests) == 3
    assert second_finished < receiver.requests[1][0]  # the second job ended before the first retry
    times = [t for t, _, _ in receiver.requests]
    assert times[1] - times[0] >= 0.3 - 0.05 and times[2] - times[1] >= 0.6 - 0.05  # backoff: >= half of nominal
    bodies = {body for _, _, body in receiver.requests}
    assert len(bodies) == 1  # the same signed body every time
    for attempt, (_, headers, body) in enumerate(receiver.requests, start=1):
        assert verify_body("cb-secret", body, headers["X-Qualia-Signature"])
        assert headers["X-Qualia-Attempt"] == str(attempt) and headers["X-Qualia-Delivery"] == first["job_id"]
    payload = json.loads(body)
    assert payload["id"] == first["job_id"] and payload["state"] == "succeeded"
    assert payload["result"]["documents"][0]["result"] == {"echo": "with callback"}
    assert job["callback"] == {"url": receiver.url, "state": "delivered", "attempts": 3, "error": None}


async def _delivered(served, job_id: str) -> dict[str, Any] | None:
    async with served.session.get(f"/jobs/{job_id}") as response:
        job = await response.json()
    return job if job["callback"]["state"] in ("delivered", "failed") else None


async def test_a_callback_that_always_fails_ends_failed_with_the_reason(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    receiver = await Receiver(failures=100).start()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    try:
        settings = JobSettings(**{**FAST, "callback_attempts": 3, "callback_backoff_s": 0.05})
        served = await serve(setup=configure(settings))
        failing = await submit(served, {"plugin": "echo", "text": "a", "callback_url": receiver.url})
        refused = await submit(served, {"plugin": "echo", "text": "b",
                                        "callback_url": f"http://127.0.0.1:{closed_port}/hook"})
        job = await wait_for(lambda: _delivered(served, failing["job_id"]), timeout=10)
        other = await wait_for(lambda: _delivered(served, refused["job_id"]), timeout=10)
    finally:
        await receiver.stop()
    assert job["state"] == "succeeded"  # the job itself is fine; only its delivery failed
    assert job["callback"]["state"] == "failed" and job["callback"]["attempts"] == 3
    assert job["callback"]["error"] == "gave up after 3 attempts: HTTP 500 Internal Server Error: receiver is down"
    assert len(receiver.requests) == 3 and "X-Qualia-Signature" not in receiver.requests[0][1]  # no secret set
    assert other["callback"]["state"] == "failed" and "ClientConnectorError" in other["callback"]["error"]


# ---- durability: SIGKILL in the middle of a job -------------------------------------------------------

SERVER_SCRIPT = """
import sys
from qualia.kernel.server.serve import serve_main
from qualia.kernel.settings import Settings
sys.exit(serve_main(Settings.from_env(use_entry_points=False), "127.0.0.1", int(sys.argv[1])))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(port)], cwd=PROJECT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{url}/jobs") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(up, timeout=20, interval=0.1)
    return process, url


async def test_a_job_survives_a_server_killed_with_sigkill(tmp_path, plugin_dir):
    folder = slow_plugin(plugin_dir)
    home = tmp_path / "home"
    env = {**os.environ, "QUALIA_HOME": str(home), "QUALIA_PLUGIN_PATH": str(plugin_dir),
           "QUALIA_JOB_POLL_S": "0.1", "QUALIA_LOG_LEVEL": "INFO", "QUALIA_ACCESS_LOG": "0",
           "PYTHONPATH": str(PROJECT)}
    log = tmp_path / "server.log"
    texts = [f"doc{i}" for i in range(8)]
    process, url = await _start_server(env, log)
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            async with session.post("/jobs", json={"plugin": "slow", "config": {"delay": 0.25},
                                                   "documents": texts}) as response:
                assert response.status == 202
                job_id = (await response.json())["job_id"]
            await wait_job(session, job_id, states=("running",))
            # Kill once the store has recorded two finished documents (a plugin's marker
            # file alone comes before the server records the result).
            for _ in range(200):
                async with session.get(f"/jobs/{job_id}") as response:
                    if (await response.json())["progress"]["done"] >= 2:
                        break
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    with JobStore(home / "jobs.sqlite3") as store:  # what the dead server left behind
        left = store.get(job_id)
    assert left.state == "running" and 2 <= left.done < len(texts) and left.attempts == 1

    process, url = await _start_server(env, log)
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            job = await wait_job(session, job_id, timeout=20)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2 and job["progress"] == {"done": 8, "total": 8, "failed": 0}
    assert [doc["result"]["echo"] for doc in job["result"]["documents"]] == texts
    done_runs = runs(folder)
    assert set(done_runs) == set(texts)
    assert len(done_runs) <= len(texts) + 1  # finished documents were not run again (at most the one in flight)
    assert "re-queued 1 job(s) left running by a stopped server" in log.read_text()


@pytest.mark.parametrize("workers", ["0", "many"])
async def test_bad_job_settings_stop_the_server_from_starting(tmp_path, workers):
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_JOB_WORKERS": workers,
           "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-c", SERVER_SCRIPT, str(_free_port())], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "QUALIA_JOB_WORKERS" in done.stderr
