"""The job store and runner with a real kernel and real plugin processes.

Store: dedup per source, exclusive claims, conditional writes, leases and
recovery, schema checks. Runner: documents run in order with progress and
per-document outcomes, failures recorded without stopping the others,
cancel reaches the plugin, a stop re-queues without counting the attempt,
bounded concurrency, transient errors retried later, callbacks resumed
after a restart.
"""
from __future__ import annotations

import asyncio
import base64
import socket
import sqlite3
import time

import msgspec
import psutil
import pytest

from qualia.kernel.jobs import (JobRunner, JobSettings, JobSpec, JobStore, JobStoreError, backoff_delay, job_result,
                         owner_is_dead, plan_job)
from qualia.kernel.pipeline import PipelineSpec, Step
from qualia.kernel.signatures import verify_body
from qualia.plugin_sdk.document import Document
from tests.conftest import problem_plugin

from .jobs_support import Receiver, runs, slow_plugin, wait_for

FAST = dict(poll_s=0.1, lease_s=3.0, retry_delay_s=0.2, callback_backoff_s=0.1, callback_timeout_s=2.0,
            retention_days=0, callback_allow_private=True)  # the callback receivers listen on 127.0.0.1


def plugin_spec(plugin: str, *texts: str, **config: object) -> JobSpec:
    return JobSpec(kind="plugin", plugin=plugin, config=dict(config), documents=[Document(text=t) for t in texts])


@pytest.fixture
def store(tmp_path):
    with JobStore(tmp_path / "jobs.sqlite3") as opened:
        yield opened


@pytest.fixture
async def make_runner(store):
    runners: list[JobRunner] = []

    async def start(kernel, **settings: object) -> JobRunner:
        runner = JobRunner(kernel, store, JobSettings(**{**FAST, **settings}))
        runners.append(runner)
        return await runner.start()

    yield start
    for runner in runners:
        await runner.stop()


async def finished(store: JobStore, job_id: str, timeout: float = 10.0):
    return await wait_for(lambda: (job := store.get(job_id)) is not None and job.final and job, timeout)


# ---- the store --------------------------------------------------------------------------

def test_a_delivery_id_is_unique_per_source(store):
    spec = plugin_spec("echo", "a")
    first, created = store.submit(spec, source="github", delivery_id="d-1")
    again, created_again = store.submit(spec, source="github", delivery_id="d-1")
    other, created_other = store.submit(spec, source="slack", delivery_id="d-1")
    assert created and not created_again and created_other
    assert again.id == first.id and other.id != first.id
    assert store.count() == 2
    assert store.spec(first.id) == spec


def test_claims_are_exclusive_and_writes_need_the_claim(store):
    job, _ = store.submit(plugin_spec("echo", "a", "b"))
    claimed = store.claim("owner-a", lease_s=30)
    assert claimed is not None and claimed.id == job.id and claimed.state == "running" and claimed.attempts == 1
    assert store.claim("owner-b", lease_s=30) is None
    assert store.record_output(job.id, "owner-b", 0, True, b"{}") is None  # not b's job
    assert store.record_output(job.id, "owner-a", 0, True, b'{"index":0}').done == 1
    assert store.finish(job.id, "owner-b", "succeeded") is None
    assert store.done_indexes(job.id) == {0}


def test_recover_requeues_dead_or_expired_owners_and_fails_after_max_attempts(tmp_path):
    now = [1000.0]
    with JobStore(tmp_path / "jobs.sqlite3", clock=lambda: now[0]) as store:
        alive, _ = store.submit(plugin_spec("echo", "a"))
        dead, _ = store.submit(plugin_spec("echo", "b"))
        store.claim("alive", lease_s=30)
        store.claim("dead", lease_s=30)
        requeued, failed = store.recover(lambda owner: owner == "dead", max_attempts=3)
        assert (requeued, failed) == ([dead.id], [])
        assert store.get(alive.id).state == "running" and store.get(dead.id).state == "queued"

        now[0] += 31  # the live owner stopped renewing: its lease lapsed
        assert store.recover(lambda owner: False, max_attempts=3) == ([alive.id], [])

        for _ in range(2):  # interrupted twice more: out of attempts
            claimed = store.claim("dead", lease_s=30)
            while claimed is not None and claimed.id != dead.id:
                store.finish(claimed.id, "dead", "succeeded")
                claimed = store.claim("dead", lease_s=30)
            store.recover(lambda owner: owner == "dead", max_attempts=3)
        job = store.get(dead.id)
        assert job.state == "failed" and job.attempts == 3 and job.error["code"] == "interrupted"


def test_release_gives_running_jobs_back_without_counting_the_attempt(store):
    job, _ = store.submit(plugin_spec("echo", "a"))
    store.claim("me", lease_s=30)
    assert store.release_jobs("someone else") == []
    assert store.release_jobs("me") == [job.id]
    released = store.get(job.id)
    assert released.state == "queued" and released.attempts == 0 and released.owner is None


def test_cancel_only_active_jobs(store):
    job, _ = store.submit(plugin_spec("echo", "a"))
    cancelled, changed = store.cancel(job.id)
    assert changed and cancelled.state == "cancelled" and cancelled.finished is not None
    again, changed_again = store.cancel(job.id)
    assert not changed_again and again.state == "cancelled"
    assert store.cancel("nope") == (None, False)


def test_a_foreign_or_newer_file_is_refused_naming_it(tmp_path):
    foreign = tmp_path / "foreign.sqlite3"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(JobStoreError, match="not a Qualia job store") as caught:
        JobStore(foreign)
    assert caught.value.path == foreign
    newer = tmp_path / "newer.sqlite3"
    JobStore(newer).close()
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(JobStoreError, match="schema version 99"):
        JobStore(newer)


def test_a_corrupt_file_is_reported_naming_it_and_left_in_place(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"\x00not a job store\xff" * 300)
    with pytest.raises(JobStoreError, match="job store .* is corrupt or not a SQLite database") as caught:
        JobStore(path)
    assert caught.value.path == path and path.read_bytes().startswith(b"\x00not a job store")
    assert list(tmp_path.iterdir()) == [path]  # accepted work is never moved away behind the operator's back


def test_two_stores_on_one_file_share_the_jobs(tmp_path):
    with JobStore(tmp_path / "j.sqlite3") as one, JobStore(tmp_path / "j.sqlite3") as two:
        job, _ = one.submit(plugin_spec("echo", "a"))
        assert two.claim("x", 30).id == job.id
        assert one.claim("y", 30) is None


def test_owner_liveness():
    me = psutil.Process()
    host = socket.gethostname()
    assert not owner_is_dead(f"{host}/{me.pid}/{me.create_time():.2f}/token")
    assert owner_is_dead(f"{host}/{me.pid}/{me.create_time() - 100:.2f}/token")  # a recycled pid
    gone = psutil.Popen(["true"])
    gone.wait()
    assert owner_is_dead(f"{host}/{gone.pid}/0/token")
    assert not owner_is_dead(f"elsewhere/{gone.pid}/0/token")  # other hosts: the lease decides
    assert not owner_is_dead("garbage")


def test_backoff_is_exponential_capped_and_jittered():
    settings = JobSettings(callback_backoff_s=0.5, callback_backoff_factor=2, callback_backoff_max_s=3)
    assert [backoff_delay(n, settings, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [backoff_delay(n, settings, rand=lambda: 0.0) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]


def test_settings_from_env_and_their_checks():
    settings = JobSettings.from_env({"QUALIA_JOB_WORKERS": "4", "QUALIA_CALLBACK_BACKOFF_S": "0.1",
                                     "QUALIA_WEBHOOK_SECRET": "w"})
    assert settings.workers == 4 and settings.callback_backoff_s == 0.1 and settings.callback_secret == "w"
    assert JobSettings.from_env({"QUALIA_WEBHOOK_SECRET": "w", "QUALIA_CALLBACK_SECRET": "c"}).callback_secret == "c"
    with pytest.raises(ValueError, match="QUALIA_JOB_WORKERS"):
        JobSettings.from_env({"QUALIA_JOB_WORKERS": "0"})
    with pytest.raises(ValueError, match="QUALIA_JOB_LEASE_S"):
        JobSettings.from_env({"QUALIA_JOB_LEASE_S": "soon"})


# ---- the runner ---------------------------------------------------------------------------

async def test_a_job_runs_each_document_and_stores_each_outcome(make_kernel, make_runner, store, plugin_dir):
    kernel = await make_kernel()
    runner = await make_runner(kernel)
    spec = JobSpec(kind="plugin", plugin="word_frequency", config={"top_n": 2},
                   documents=[Document(id="one", text="gato gato cão"), Document(text="dog dog dog cat")])
    plan_job(kernel, spec)
    job, created = runner.submit(spec)
    assert created and job.state == "queued" and job.total == 2
    with runner.events.subscribe(job.id) as subscription:
        seen = []
        while not (current := store.get(job.id)).final:
            seen.append((current.state, current.done))
            await subscription.wait(5)
    assert current.state == "succeeded" and current.done == 2 and current.failed == 0 and current.attempts == 1
    assert ("running", 0) in seen or ("running", 1) in seen
    result = msgspec.json.decode(job_result(store, current))
    first, second = result["documents"]
    assert first["index"] == 0 and first["document_id"] == "one"
    assert first["result"]["frequencies"][0]["term"] == "gato"
    assert [step["plugin"] for step in first["steps"]] == ["word_frequency"]
    assert second["result"]["frequencies"][0]["term"] == "dog"


async def test_a_failing_document_is_recorded_and_the_others_still_run(make_kernel, make_runner, store,
                                                                        plugin_dir):
    slow_plugin(plugin_dir)
    kernel = await make_kernel()
    runner = await make_runner(kernel)
    job, _ = runner.submit(plugin_spec("slow", "first", "fail here", "third"))
    job = await finished(store, job.id)
    assert job.state == "failed" and job.done == 3 and job.failed == 1
    assert job.error["code"] == "invalid_input"
    assert "1 of 3 document(s) failed" in job.error["message"] and "cannot use this text" in job.error["message"]
    assert job.error["details"]["first_failed_index"] == 1
    outcomes = msgspec.json.decode(job_result(store, job))["documents"]
    assert [o.get("result", {}).get("echo") for o in outcomes] == ["first", None, "third"]
    assert outcomes[1]["error"]["code"] == "invalid_input"


async def test_a_pipeline_job_passes_artefacts_between_steps(make_kernel, make_runner, store):
    kernel = await make_kernel()
    runner = await make_runner(kernel)
    pipeline = PipelineSpec(name="freq", steps=[Step(plugin="word_frequency", config={"top_n": 1}),
                                                Step(plugin="frequency_chart", config={"format": "svg"})])
    job, _ = runner.submit(JobSpec(kind="pipeline", pipeline=pipeline,
                                   documents=[Document(text="gato cão gato")]))
    job = await finished(store, job.id, timeout=20)
    assert job.state == "succeeded" and job.target == "freq", job.error
    [outcome] = msgspec.json.decode(job_result(store, job))["documents"]
    frequencies, chart = outcome["steps"]
    assert frequencies["result"]["frequencies"][0]["term"] == "gato" and "result" not in outcome
    assert chart["figure"]["media_type"].startswith("image/svg") and chart["figure"]["size"] > 0
    assert b"<svg" in base64.b64decode(chart["figure"]["data"])


async def test_cancel_stops_the_plugin_and_frees_the_worker(make_kernel, make_runner, store, plugin_dir):
    problem_plugin(plugin_dir, "hang", "hang", timeout_s=60)
    problem_plugin(plugin_dir, "echo", "ok")
    kernel = await make_kernel()
    runner = await make_runner(kernel, workers=1)
    job, _ = runner.submit(plugin_spec("hang", "zzz"))
    await wait_for(lambda: kernel.plugin_status("hang") and kernel.plugin_status("hang").state == "running")
    pid = kernel.plugin_status("hang").processes[0].pid
    cancelled = runner.cancel(job.id)
    assert cancelled.state == "cancelled"
    # $/cancel is ignored by this plugin: it is killed after the grace period (0.3 s)
    await wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    other, _ = runner.submit(plugin_spec("echo", "next"))
    assert (await finished(store, other.id)).state == "succeeded"
    assert store.get(job.id).state == "cancelled" and store.get(job.id).done == 0
    with pytest.raises(Exception, match="already cancelled"):
        runner.cancel(job.id)


async def test_workers_bound_how_many_jobs_run_at_once(make_kernel, make_runner, store, plugin_dir):
    slow_plugin(plugin_dir)
    kernel = await make_kernel()
    runner = await make_runner(kernel, workers=1)
    first, _ = runner.submit(plugin_spec("slow", "one", delay=0.4))
    second, _ = runner.submit(plugin_spec("slow", "two"))
    await wait_for(lambda: store.get(first.id).state == "running")
    await asyncio.sleep(0.2)
    assert store.get(second.id).state == "queued"
    assert (await finished(store, second.id)).state == "succeeded"
    assert store.get(first.id).state == "succeeded"


async def test_a_stop_requeues_running_jobs_and_the_next_runner_resumes_them(make_kernel, store, plugin_dir):
    folder = slow_plugin(plugin_dir)
    kernel = await make_kernel()
    runner = await JobRunner(kernel, store, JobSettings(**FAST)).start()
    job, _ = runner.submit(plugin_spec("slow", "a", "b", "c", delay=0.3))
    await wait_for(lambda: store.get(job.id).done >= 1)
    await runner.stop()
    stopped = store.get(job.id)
    assert stopped.state == "queued" and stopped.attempts == 0  # a graceful stop does not count
    assert 1 <= stopped.done < 3

    runner = await JobRunner(kernel, store, JobSettings(**FAST)).start()
    try:
        done = await finished(store, job.id)
    finally:
        await runner.stop()
    assert done.state == "succeeded" and done.done == 3 and done.attempts == 1
    outcomes = msgspec.json.decode(job_result(store, done))["documents"]
    assert [o["result"]["echo"] for o in outcomes] == ["a", "b", "c"]
    assert sorted(set(runs(folder))) == ["a", "b", "c"] and runs(folder).count("a") == 1  # finished ones skipped


async def test_an_unavailable_kernel_sends_the_job_back_to_the_queue(make_kernel, make_runner, store, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    kernel = await make_kernel()
    await kernel.stop()
    runner = await make_runner(kernel, retry_delay_s=30, max_attempts=2)
    job, _ = runner.submit(plugin_spec("echo", "a"))
    retried = await wait_for(lambda: (j := store.get(job.id)).error is not None and j)
    assert retried.state == "queued" and retried.attempts == 1 and retried.error["code"] == "kernel_stopped"
    assert retried.not_before > time.time() + 20


async def test_a_pending_callback_survives_a_restart_and_keeps_its_attempts(make_kernel, store, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    kernel = await make_kernel()
    receiver = await Receiver(failures=1).start()
    settings = JobSettings(**{**FAST, "callback_backoff_s": 1.0, "callback_secret": "s3cret"})
    try:
        runner = await JobRunner(kernel, store, settings).start()
        job, _ = runner.submit(plugin_spec("echo", "hi"), callback_url=receiver.url)
        await wait_for(lambda: store.get(job.id).callback_attempts == 1)
        await runner.stop()  # the retry (0.5-1 s away) is pending
        assert store.get(job.id).callback_state == "pending"

        runner = await JobRunner(kernel, store, settings).start()
        try:
            await asyncio.wait_for(receiver.delivered.wait(), 5)
            await wait_for(lambda: store.get(job.id).callback_state == "delivered")
        finally:
            await runner.stop()
    finally:
        await receiver.stop()
    job = store.get(job.id)
    assert job.callback_attempts == 2 and len(receiver.requests) == 2
    _, headers, body = receiver.requests[-1]
    assert verify_body("s3cret", body, headers["X-Qualia-Signature"])
    assert headers["X-Qualia-Delivery"] == job.id and headers["X-Qualia-Attempt"] == "2"
    sent = msgspec.json.decode(body)
    assert sent["id"] == job.id and sent["state"] == "succeeded" and "callback" not in sent
    assert sent["result"]["documents"][0]["result"] == {"echo": "hi"}

