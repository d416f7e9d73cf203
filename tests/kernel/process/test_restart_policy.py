"""RestartPolicy as a state machine, step by step on a fake clock: the intensity window, the
backoff and its resets, closing, and listeners that fail without breaking anything."""
from __future__ import annotations

import logging

import pytest

from qualia.kernel.process import RestartPolicy, Verdict


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy(clock: FakeClock, **kwargs: float) -> RestartPolicy:
    options = {"limit": 3, "window_s": 10.0, "stable_s": 30.0, "base_delay_s": 0.05, "max_delay_s": 5.0, **kwargs}
    return RestartPolicy("p", clock=clock, **options)  # type: ignore[arg-type]


def test_restarts_within_the_limit_are_allowed_and_counted(clock):
    restarts = policy(clock)
    for expected in (1, 2, 3):
        decision = restarts.next_restart()
        assert decision.verdict is Verdict.RESTART and decision.allowed
        assert decision.restarts_in_window == expected
        clock.now += 1


def test_one_restart_too_many_within_the_window_gives_up(clock):
    restarts = policy(clock)
    for _ in range(3):
        restarts.next_restart()
    decision = restarts.next_restart()
    assert decision.verdict is Verdict.GIVE_UP and not decision.allowed
    assert decision.restarts_in_window == 3
    assert "'p'" in decision.reason and "3 times within 10 s" in decision.reason
    assert restarts.restarts_in_window() == 3, "a refused restart is not counted"


def test_the_window_slides(clock):
    restarts = policy(clock)
    for _ in range(3):
        restarts.next_restart()
        clock.now += 4  # restarts at 1000, 1004, 1008
    assert clock.now == 1012
    assert restarts.restarts_in_window() == 2  # the one at 1000 left the window at 1010
    assert restarts.next_restart().allowed
    assert not restarts.next_restart().allowed  # 1004, 1008, 1012 are inside
    clock.now = 1014.5  # 1004 left
    assert restarts.next_restart().allowed


def test_reset_forgets_the_window(clock):
    restarts = policy(clock)
    for _ in range(3):
        restarts.next_restart()
    restarts.reset()
    assert restarts.restarts_in_window() == 0 and restarts.next_restart().allowed


def test_each_fault_in_a_row_doubles_the_delay_up_to_the_maximum(clock):
    restarts = policy(clock, limit=100)
    assert restarts.next_restart().delay_s == 0, "no fault: restart at once"
    delays = []
    for _ in range(9):
        restarts.record_fault()
        delays.append(restarts.next_restart().delay_s)
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_a_success_resets_the_backoff(clock):
    restarts = policy(clock)
    restarts.record_fault()
    restarts.record_fault()
    assert restarts.delay() == 0.1
    restarts.record_success()
    assert restarts.fault_streak == 0 and restarts.delay() == 0


def test_a_stable_period_alive_resets_the_backoff_and_a_short_one_does_not(clock):
    restarts = policy(clock)
    restarts.record_fault()
    restarts.record_fault()
    restarts.record_exit(uptime_s=29.9)
    assert restarts.delay() == 0.1
    restarts.record_exit(uptime_s=30.0)
    assert restarts.delay() == 0


def test_no_restart_once_closed(clock):
    restarts = policy(clock)
    restarts.close()
    decision = restarts.next_restart()
    assert decision.verdict is Verdict.CLOSED and not decision.allowed
    assert "shutting down" in decision.reason
    assert restarts.restarts_in_window() == 0


def test_listeners_hear_every_decision_in_order(clock):
    restarts = policy(clock, limit=1)
    heard = []
    restarts.add_listener(lambda decision: heard.append(decision.verdict))
    restarts.next_restart()
    restarts.next_restart()
    restarts.close()
    restarts.next_restart()
    assert heard == [Verdict.RESTART, Verdict.GIVE_UP, Verdict.CLOSED]


def test_a_failing_listener_is_logged_not_raised(clock, caplog):
    restarts = policy(clock)
    heard = []

    def broken(decision):
        raise RuntimeError("listener bug")

    restarts.add_listener(broken)
    restarts.add_listener(heard.append)
    with caplog.at_level(logging.ERROR, logger="qualia.process"):
        decision = restarts.next_restart()
    assert decision.allowed and heard == [decision], "the next listener still ran"
    assert "listener bug" in caplog.text


def test_a_policy_needs_a_positive_limit_and_window(clock):
    with pytest.raises(ValueError):
        RestartPolicy("p", limit=0, clock=clock)
    with pytest.raises(ValueError):
        RestartPolicy("p", window_s=0, clock=clock)
