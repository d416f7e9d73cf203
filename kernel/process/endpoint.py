"""The endpoint: requests to one plugin matched to their answers by id.

Each request has a future and its own deadline; on the deadline, or when the
caller goes away, the plugin is sent `$/cancel`. Error objects from the wire are
rebuilt into the kernel's error classes: -32602 is the caller's fault (422),
anything else the plugin's (502). Framing and the process live elsewhere.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Callable, Protocol

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.errors import InvalidParams

from ..errors import InvalidInput, PluginFault, PluginOutOfMemory, PluginTimeout, QualiaError

log = logging.getLogger("qualia.process")

ProgressCallback = Callable[[p.ProgressParams], None]


class MessageWriter(Protocol):
    writing_paused: bool

    def send(self, message: msgspec.Struct) -> None: ...

    async def drain(self) -> None: ...


def memory_note(max_memory_mb: int | None) -> str:
    return (f"its memory ceiling is {max_memory_mb} MiB (max_memory_mb in its plugin.toml; "
            f"QUALIA_MAX_MEMORY_MB sets the default)")


def error_from_wire(plugin_id: str, error: p.ErrorObject, *, stderr_tail: list[str],
                    max_memory_mb: int | None = None) -> QualiaError:
    """The kernel's error for a plugin's JSON-RPC error object."""
    if error.code == InvalidParams.code:
        details = error.data if isinstance(error.data, dict) else {}
        return InvalidInput(f"plugin {plugin_id!r} rejected the input: {error.message}", plugin=plugin_id, **details)
    traceback = error.data if isinstance(error.data, str) else None
    if max_memory_mb is not None and error.message.startswith("MemoryError"):  # the SDK's "Type: message"
        return PluginOutOfMemory(f"plugin {plugin_id!r} ran out of memory: {memory_note(max_memory_mb)}",
                                 plugin=plugin_id, max_memory_mb=max_memory_mb, rpc_code=error.code,
                                 traceback=traceback, stderr_tail=stderr_tail)
    return PluginFault(f"plugin {plugin_id!r} failed: {error.message}", plugin=plugin_id, rpc_code=error.code,
                       traceback=traceback, stderr_tail=stderr_tail)


class Endpoint:
    def __init__(self, plugin_id: str, writer: MessageWriter, *, on_violation: Callable[[str], None],
                 stderr_tail: Callable[[], list[str]], max_memory_mb: int | None = None) -> None:
        self.plugin_id = plugin_id
        self._writer = writer
        self._on_violation = on_violation
        self._stderr_tail = stderr_tail
        self._max_memory_mb = max_memory_mb
        self._ids = itertools.count(1)
        self._pending: dict[p.RequestId, asyncio.Future[msgspec.Raw]] = {}
        self._progress: dict[p.RequestId, ProgressCallback] = {}

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    async def request(self, method: str, params: Any, *, timeout: float,
                      progress: ProgressCallback | None = None) -> msgspec.Raw:
        """Send one request and wait for its answer; `$/cancel` follows a deadline or a cancelled caller.

        Raises the error the plugin answered, PluginTimeout, or BrokenPipeError when stdin is closed.
        """
        request_id = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[msgspec.Raw] = loop.create_future()
        self._pending[request_id] = future
        if progress is not None:
            self._progress[request_id] = progress
        timer = loop.call_later(timeout, self._expire, request_id, timeout)
        try:
            self._writer.send(p.Request(id=request_id, method=method, params=params))
            if self._writer.writing_paused:
                await self._writer.drain()  # back-pressure only for big messages
            return await future
        except (PluginTimeout, asyncio.CancelledError):
            self.cancel(request_id)
            raise
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)
            self._progress.pop(request_id, None)

    def notify(self, method: str, params: Any = None) -> bool:
        """Send a notification; False when stdin is already closed."""
        try:
            self._writer.send(p.Notification(method=method, params=params))
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def cancel(self, request_id: p.RequestId) -> bool:
        return self.notify(p.NOTIFY_CANCEL, p.CancelParams(id=request_id))

    def fail_all(self, error: QualiaError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def _expire(self, request_id: p.RequestId, deadline: float) -> None:
        future = self._pending.get(request_id)
        if future is not None and not future.done():
            future.set_exception(PluginTimeout(
                f"plugin {self.plugin_id!r} did not answer within {deadline:g} s", plugin=self.plugin_id,
                timeout_s=deadline, stderr_tail=self._stderr_tail()))

    # ---- incoming -------------------------------------------------------------------

    def receive(self, message: p.Message, line: bytes) -> None:
        """Dispatch one decoded message from the plugin (the `on_message` of the framing)."""
        if message.method is not msgspec.UNSET:
            if message.method == p.NOTIFY_PROGRESS and message.params is not msgspec.UNSET:
                self._report_progress(message.params)
            return  # other notifications from a plugin are ignored
        if message.id is msgspec.UNSET or (message.result is msgspec.UNSET and message.error is msgspec.UNSET):
            self._on_violation(f"a message that is neither a response nor a notification: {line[:200]!r}")
            return
        future = self._pending.get(message.id) if message.id is not None else None
        if future is None:
            if message.error is not msgspec.UNSET and message.id is None:
                log.warning("plugin %s reported: %s", self.plugin_id, message.error.message)
            return  # a late answer to a cancelled request
        if future.done():
            return
        if message.error is not msgspec.UNSET:
            future.set_exception(error_from_wire(self.plugin_id, message.error, stderr_tail=self._stderr_tail(),
                                                 max_memory_mb=self._max_memory_mb))
        else:
            future.set_result(message.result)  # type: ignore[arg-type]

    def _report_progress(self, raw: msgspec.Raw) -> None:
        try:
            progress = msgspec.json.decode(raw, type=p.ProgressParams)
        except msgspec.ValidationError:
            return  # progress is advisory; a bad one is dropped
        callback = self._progress.get(progress.id)
        if callback is not None:
            callback(progress)
