"""`RestartPolicy`: when a plugin's process may be started again, and after how long.

OTP-style intensity: at most `limit` restarts within `window_s` seconds; one
more and the policy gives up, and the supervisor hands the plugin to its
circuit breaker. Each fault in a row doubles the delay before the next restart
(from `base_delay_s` up to `max_delay_s`), so a broken plugin cannot spin the
CPU; a success, or a process that stayed up `stable_s` seconds, resets it. No
restarts once closed (the kernel is stopping). Listeners are told of every
decision; one that raises is logged, never propagated. The clock is injectable
so the policy can be tested step by step.
"""
from __future__ import annotations

import enum
import logging
import time
from collections import deque
from typing import Callable

import msgspec

log = logging.getLogger("qualia.process")


class Verdict(enum.StrEnum):
    RESTART = "restart"
    GIVE_UP = "give-up"  # too many restarts in the window
    CLOSED = "closed"  # shutting down


class RestartDecision(msgspec.Struct, kw_only=True, frozen=True):
    verdict: Verdict
    delay_s: float = 0.0
    restarts_in_window: int = 0
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.RESTART


Listener = Callable[[RestartDecision], None]


class RestartPolicy:
    def __init__(self, name: str, *, limit: int = 10, window_s: float = 60.0, stable_s: float = 30.0,
                 base_delay_s: float = 0.05, max_delay_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a restart policy needs limit >= 1 and window_s > 0")
        self.name = name
        self.limit = limit
        self.window_s = window_s
        self.stable_s = stable_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.closed = False
        self.fault_streak = 0
        self._clock = clock
        self._restarts: deque[float] = deque()  # times of the restarts still inside the window
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # ---- what happened ----------------------------------------------------------------

    def record_fault(self) -> None:
        """The plugin failed (crash, timeout, protocol error, failed start): back off more."""
        self.fault_streak += 1

    def record_success(self) -> None:
        self.fault_streak = 0

    def record_exit(self, uptime_s: float) -> None:
        """A process ended; one that had been up `stable_s` seconds was healthy: the backoff starts over."""
        if uptime_s >= self.stable_s:
            self.fault_streak = 0

    def reset(self) -> None:
        """Forget the window (the breaker took over; its trial must be allowed to start a process)."""
        self._restarts.clear()

    def close(self) -> None:
        self.closed = True

    # ---- the decision -------------------------------------------------------------------

    def delay(self) -> float:
        if not self.fault_streak:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2 ** (self.fault_streak - 1))

    def restarts_in_window(self) -> int:
        horizon = self._clock() - self.window_s
        while self._restarts and self._restarts[0] <= horizon:
            self._restarts.popleft()
        return len(self._restarts)

    def next_restart(self) -> RestartDecision:
        """Decide about one restart now; an allowed one is counted in the window."""
        recent = self.restarts_in_window()
        if self.closed:
            decision = RestartDecision(verdict=Verdict.CLOSED, restarts_in_window=recent,
                                       reason=f"plugin {self.name!r} is shutting down: no restart")
        elif recent >= self.limit:
            decision = RestartDecision(verdict=Verdict.GIVE_UP, restarts_in_window=recent,
                                       reason=f"plugin {self.name!r} was restarted {recent} times within "
                                              f"{self.window_s:g} s (limit {self.limit})")
        else:
            self._restarts.append(self._clock())
            decision = RestartDecision(verdict=Verdict.RESTART, delay_s=self.delay(), restarts_in_window=recent + 1)
        self._tell(decision)
        return decision

    def _tell(self, decision: RestartDecision) -> None:
        for listener in self._listeners:
            try:
                listener(decision)
            except Exception:  # a listener must never break supervision
                log.exception("restart listener %r of plugin %s failed", listener, self.name)
