"""Circuit breaker per plugin: closed → open after N faults in a row (or when the restart policy
gives up) → half-open after a timeout, where one trial call decides. The trial has its own
deadline: a trial that never reports back counts as failed, so the breaker cannot stay half-open
forever. The clock is injectable so the state machine can be tested step by step."""
from __future__ import annotations

import enum
import time
from typing import Callable

import msgspec

from .errors import BreakerOpen


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerSnapshot(msgspec.Struct, kw_only=True):
    state: BreakerState
    consecutive_failures: int
    total_failures: int
    trips: int
    retry_after_s: float | None


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 5, open_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, *, trial_timeout_s: float = 60.0) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.trial_timeout_s = trial_timeout_s
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.total_failures = 0
        self.trips = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._trial_started_at = 0.0
        self._cause = ""  # why it opened, when not a streak of faults

    def retry_after(self) -> float:
        return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def before_call(self) -> bool:
        """Admit a call or raise BreakerOpen. Returns True when the call is the half-open trial."""
        if self.state is BreakerState.CLOSED:
            return False
        self._expire_trial()
        if self.state is BreakerState.OPEN:
            if self.retry_after() > 0:
                raise self.rejection()
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:  # half-open: only one trial at a time
            raise self.rejection()
        self._trial_in_flight = True
        self._trial_started_at = self._clock()
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._trial_in_flight = False
        self.state = BreakerState.CLOSED
        self._cause = ""

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        self.total_failures += 1
        self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
            self._open()

    def trip(self, cause: str) -> None:
        """Open now, whatever the count (the restart policy gave up on the plugin)."""
        self._trial_in_flight = False
        self._open()
        self._cause = cause

    def reset(self) -> None:
        """Closed, with the failure streak forgotten (totals and trips are history and stay)."""
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._trial_in_flight = False
        self._cause = ""

    def abandon_trial(self) -> None:
        """The trial ended without a verdict (caller fault or cancel): the next call is the trial."""
        self._trial_in_flight = False

    def snapshot(self) -> BreakerSnapshot:
        self._expire_trial()
        retry = round(self.retry_after(), 3) if self.state is BreakerState.OPEN else None
        return BreakerSnapshot(state=self.state, consecutive_failures=self.consecutive_failures,
                               total_failures=self.total_failures, trips=self.trips, retry_after_s=retry)

    def rejection(self) -> BreakerOpen:
        retry = self.retry_after() if self.state is BreakerState.OPEN else 1.0
        why = self._cause or f"after {self.consecutive_failures} consecutive failures"
        return BreakerOpen(f"plugin {self.name!r} is unavailable: circuit breaker {self.state} {why}; "
                           f"retry in {retry:.1f} s",
                           plugin=self.name, retry_after_s=round(retry, 3), state=str(self.state))

    def _open(self) -> None:
        self._cause = ""
        if self.state is not BreakerState.OPEN:
            self.trips += 1
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()

    def _expire_trial(self) -> None:
        """A trial in flight past its deadline is lost: open again for a full period."""
        if (self.state is BreakerState.HALF_OPEN and self._trial_in_flight
                and self._clock() - self._trial_started_at >= self.trial_timeout_s):
            self._trial_in_flight = False
            self._open()
