"""Circuit breaker per plugin: closed → open after N faults in a row → half-open
after a timeout, where one trial call decides. The clock is injectable so the
state machine can be tested step by step."""
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
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.total_failures = 0
        self.trips = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def retry_after(self) -> float:
        return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def before_call(self) -> bool:
        """Admit a call or raise BreakerOpen. Returns True when the call is the half-open trial."""
        if self.state is BreakerState.CLOSED:
            return False
        if self.state is BreakerState.OPEN:
            if self.retry_after() > 0:
                raise self._rejection()
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:  # half-open: only one trial at a time
            raise self._rejection()
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._trial_in_flight = False
        self.state = BreakerState.CLOSED

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        self.total_failures += 1
        self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.failure_threshold:
            if self.state is not BreakerState.OPEN:
                self.trips += 1
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def reset(self) -> None:
        """Closed, with the failure streak forgotten (totals and trips are history and stay)."""
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._trial_in_flight = False

    def abandon_trial(self) -> None:
        """The trial ended without a verdict (caller fault or cancel): the next call is the trial."""
        self._trial_in_flight = False

    def snapshot(self) -> BreakerSnapshot:
        retry = round(self.retry_after(), 3) if self.state is BreakerState.OPEN else None
        return BreakerSnapshot(state=self.state, consecutive_failures=self.consecutive_failures,
                               total_failures=self.total_failures, trips=self.trips, retry_after_s=retry)

    def _rejection(self) -> BreakerOpen:
        retry = self.retry_after() if self.state is BreakerState.OPEN else 1.0
        return BreakerOpen(f"plugin {self.name!r} is unavailable: circuit breaker {self.state} after "
                           f"{self.consecutive_failures} consecutive failures; retry in {retry:.1f} s",
                           plugin=self.name, retry_after_s=round(retry, 3), state=str(self.state))
