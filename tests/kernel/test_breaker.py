"""The circuit breaker as a state machine (fake clock), then end to end with real processes."""
from __future__ import annotations

import pytest

from qualia.kernel.breaker import BreakerState, CircuitBreaker
from qualia.kernel.errors import BreakerOpen, InvalidInput, PluginCrashed
from qualia.plugin_sdk import Document
from tests.conftest import problem_plugin
from tests.kernel.process_support import until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_after_n_consecutive_failures(clock):
    breaker = CircuitBreaker("p", failure_threshold=3, open_seconds=10, clock=clock)
    for expected in (1, 2):
        breaker.before_call()
        breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == expected
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.trips == 1


def test_success_resets_the_streak(clock):
    breaker = CircuitBreaker("p", failure_threshold=3, open_seconds=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert (breaker.consecutive_failures, breaker.total_failures) == (1, 3)


def test_fails_fast_while_open_with_retry_after(clock):
    breaker = CircuitBreaker("p", failure_threshold=1, open_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 4
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_call()
    assert caught.value.status == 503
    assert caught.value.details["retry_after_s"] == pytest.approx(6)
    assert "'p'" in caught.value.message


def test_half_open_admits_exactly_one_trial(clock):
    breaker = CircuitBreaker("p", failure_threshold=1, open_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.before_call() is True
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call()


def test_trial_success_closes(clock):
    breaker = CircuitBreaker("p", failure_threshold=1, open_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0
    assert breaker.before_call() is False


def test_trial_failure_reopens_for_a_full_period(clock):
    breaker = CircuitBreaker("p", failure_threshold=3, open_seconds=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.trips == 2
    assert breaker.retry_after() == pytest.approx(10)


def test_a_trial_past_its_deadline_is_lost_and_the_breaker_opens_again(clock):
    breaker = CircuitBreaker("p", failure_threshold=1, open_seconds=10, clock=clock, trial_timeout_s=5)
    breaker.record_failure()
    clock.now += 10
    assert breaker.before_call() is True  # the trial starts, and never reports back
    clock.now += 4.9
    with pytest.raises(BreakerOpen):
        breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN
    clock.now += 0.1
    snapshot = breaker.snapshot()
    assert snapshot.state is BreakerState.OPEN and snapshot.trips == 2
    assert snapshot.retry_after_s == pytest.approx(10)
    clock.now += 10
    assert breaker.before_call() is True, "after a full open period a new trial may start"


def test_trip_opens_at_once_and_says_why(clock):
    breaker = CircuitBreaker("p", failure_threshold=5, open_seconds=10, clock=clock)
    breaker.trip("(restarted 10 times within 60 s)")
    assert breaker.state is BreakerState.OPEN and breaker.trips == 1 and breaker.total_failures == 0
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_call()
    assert "restarted 10 times within 60 s" in caught.value.message
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_call()
    assert "1 consecutive failures" in caught.value.message, "a later opening gives its own reason"


def test_abandoned_trial_lets_the_next_call_try(clock):
    breaker = CircuitBreaker("p", failure_threshold=1, open_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.abandon_trial()
    assert breaker.before_call() is True


# ---- end to end: real processes, short open time (0.5 s, threshold 3) ----------------

DOC = Document(text="texto")


async def open_breaker(kernel, plugin_id: str) -> None:
    for _ in range(3):
        with pytest.raises(PluginCrashed):
            await kernel.run(plugin_id, DOC)
    assert kernel.plugin_status(plugin_id).breaker.state == "open"


async def until_half_open_is_due(kernel, plugin_id: str) -> None:
    await until(lambda: kernel.supervisor(plugin_id).breaker.retry_after() == 0, what="the open period to end")


async def test_open_breaker_fails_fast_without_starting_a_process(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "flaky", "crash_on_call")
    kernel = await make_kernel()
    await open_breaker(kernel, "flaky")
    restarts = kernel.plugin_status("flaky").restarts
    with pytest.raises(BreakerOpen) as caught:
        await kernel.run("flaky", DOC)
    assert 0 < caught.value.details["retry_after_s"] <= 0.5
    status = kernel.plugin_status("flaky")
    assert status.restarts == restarts and status.breaker.total_failures == 3


async def test_half_open_trial_success_closes_on_a_fresh_process(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "flaky", "toggle")
    (folder / "mode").write_text("fail")
    kernel = await make_kernel()
    await open_breaker(kernel, "flaky")
    (folder / "mode").write_text("ok")
    await until_half_open_is_due(kernel, "flaky")
    assert (await kernel.run("flaky", DOC)).result == {"echo": "texto"}
    status = kernel.plugin_status("flaky")
    assert status.breaker.state == "closed" and status.restarts == 3


async def test_half_open_trial_failure_reopens(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "flaky", "toggle")
    (folder / "mode").write_text("fail")
    kernel = await make_kernel()
    await open_breaker(kernel, "flaky")
    await until_half_open_is_due(kernel, "flaky")
    with pytest.raises(PluginCrashed):
        await kernel.run("flaky", DOC)
    status = kernel.plugin_status("flaky")
    assert status.breaker.state == "open" and status.breaker.trips == 2
    with pytest.raises(BreakerOpen):
        await kernel.run("flaky", DOC)


async def test_caller_faults_never_open_the_breaker(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "picky", "invalid_params")
    kernel = await make_kernel()
    for _ in range(6):
        with pytest.raises(InvalidInput):
            await kernel.run("picky", DOC)
    assert kernel.plugin_status("picky").breaker.state == "closed"


async def test_too_many_restarts_in_the_window_open_the_breaker(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "fragile", "ok")
    kernel = await make_kernel(restart_limit=2, restart_window_s=60, breaker_failures=100)
    await kernel.run("fragile", DOC)
    for _ in range(2):  # killed while idle: each next call restarts it, without a fault
        await kill_idle(kernel, "fragile")
        assert (await kernel.run("fragile", DOC, use_cache=False)).result == {"echo": "texto"}
    await kill_idle(kernel, "fragile")
    with pytest.raises(BreakerOpen) as caught:
        await kernel.run("fragile", DOC, use_cache=False)
    assert "restarted 2 times within 60 s (limit 2)" in caught.value.message
    status = kernel.plugin_status("fragile")
    assert status.breaker.state == "open" and status.restarts == 2 and status.breaker.total_failures == 0

    await until_half_open_is_due(kernel, "fragile")  # then the trial may start a process again
    assert (await kernel.run("fragile", DOC, use_cache=False)).result == {"echo": "texto"}
    assert kernel.plugin_status("fragile").breaker.state == "closed"


async def kill_idle(kernel, plugin_id: str) -> None:
    import os
    import signal

    pid = next(proc.pid for proc in kernel.plugin_status(plugin_id).processes if proc.alive)
    os.kill(pid, signal.SIGKILL)
    await until(lambda: not any(p.alive for p in kernel.plugin_status(plugin_id).processes),
                what="the kernel to notice the kill")
