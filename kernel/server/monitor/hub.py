"""`MonitorHub`: one snapshot producer, many dashboard streams, each fed the same encoded bytes."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

from aiohttp import web

from ...errors import Unavailable
from .. import sse
from .snapshot import MonitorSettings, Point, Snapshot

__all__ = ["MONITOR", "MonitorHub", "Subscriber"]

log = logging.getLogger("qualia.server.monitor")


class Subscriber:
    """One connected client: a bounded queue of encoded chunks; None means the hub closed."""

    def __init__(self, hub: "MonitorHub", size: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, chunk: bytes | None) -> None:
        while self.queue.full():  # a slow client skips old snapshots rather than holding memory
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(chunk)

    async def next(self, timeout: float) -> bytes | None | bool:
        """The next chunk, None once the hub closed, False after `timeout` with nothing."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return False

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._hub.unsubscribe(self)


class MonitorHub:
    """One producer, many subscribers; the producer runs only while someone listens."""

    def __init__(self, take: Callable[[], Snapshot], settings: MonitorSettings,
                 on_start: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self._take = take
        self._on_start = on_start
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.history: deque[Point] = deque(maxlen=settings.history)
        self.latest: Snapshot | None = None
        self.closed = False
        self.snapshots_taken = 0

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    @property
    def producing(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self) -> Subscriber:
        if self.closed:
            raise Unavailable("the server is stopping; the dashboard stream reconnects when it is back",
                              retry_after_s=max(1, self.settings.retry_ms // 1000))
        subscriber = Subscriber(self, self.settings.queue)
        self._subscribers.add(subscriber)
        if not self.producing:
            self._task = asyncio.get_running_loop().create_task(self._produce(), name="qualia-monitor")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers and self._task is not None:
            self._task.cancel()  # nobody listens: stop sampling
            self._task = None

    def greeting(self) -> bytes:
        """What a new client gets first: the reconnect hint and the chart history."""
        return (sse.retry(self.settings.retry_ms)
                + sse.event("history", {"interval_s": self.settings.interval_s, "points": list(self.history)}))

    async def close(self, app: web.Application | None = None) -> None:
        """`on_shutdown`: end every stream now and stop the producer."""
        self.closed = True
        task, self._task = self._task, None
        for subscriber in list(self._subscribers):
            subscriber.offer(None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        if self._on_start is not None:
            self._on_start()
        await asyncio.sleep(min(0.25, self.settings.interval_s))  # the first rates and CPU figures need a span
        previous: dict[str, str] | None = None
        while True:
            started = loop.time()
            try:
                snapshot = self._take()
            except Exception:  # a probe bug must not kill the dashboard: log it, try again next time
                log.exception("monitor snapshot failed")
            else:
                self.snapshots_taken += 1
                self.latest = snapshot
                self.history.append(snapshot.point)
                states = {plugin.id: plugin.state for plugin in snapshot.plugins}
                chunks = []
                if previous is not None:
                    for plugin in snapshot.plugins:
                        before = previous.get(plugin.id)
                        if before is not None and before != plugin.state:
                            chunks.append(sse.event("plugin", {
                                "id": plugin.id, "state": plugin.state, "previous": before,
                                "last_error": plugin.last_error, "t": snapshot.t}))
                previous = states
                chunks.append(sse.event("snapshot", snapshot))
                chunk = b"".join(chunks)
                for subscriber in list(self._subscribers):
                    subscriber.offer(chunk)
            await asyncio.sleep(max(0.0, self.settings.interval_s - (loop.time() - started)))


MONITOR = web.AppKey("qualia_monitor", MonitorHub)
