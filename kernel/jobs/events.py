"""`JobEvents`: in-process change notifications per job, for SSE subscribers.

A notification carries nothing: a subscriber re-reads the job from the store,
which stays the one source of truth (and also serves jobs other processes
run, through the subscriber's poll timeout). Subscribe before reading, so a
change between the read and the wait is never missed.
"""
from __future__ import annotations

import asyncio

__all__ = ["JobEvents", "Subscription"]


class Subscription:
    def __init__(self, events: "JobEvents", job_id: str) -> None:
        self.job_id = job_id
        self._events = events
        self._changed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._events.closed

    def notify(self) -> None:
        self._changed.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a change (True) or the timeout (False); a change since the last wait counts."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            changed = True
        except asyncio.TimeoutError:
            changed = False
        self._changed.clear()
        return changed

    def close(self) -> None:
        self._events.unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JobEvents:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self.closed = False

    def subscribe(self, job_id: str) -> Subscription:
        subscription = Subscription(self, job_id)
        self._subscribers.setdefault(job_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.job_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.job_id]

    def notify(self, job_id: str) -> None:
        for subscription in self._subscribers.get(job_id, ()):
            subscription.notify()

    def subscribers(self, job_id: str) -> int:
        return len(self._subscribers.get(job_id, ()))

    def close(self) -> None:
        """Wake every subscriber for the last time (the server is stopping)."""
        self.closed = True
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.notify()
