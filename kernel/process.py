"""`PluginProcess`: one plugin child process and the JSON-RPC conversation with it.

Framing and matching of answers live here together because each process has
exactly one conversation: requests are matched to answers by id with futures,
each with its own deadline. The child runs in its own session (so its whole
process group can be signalled) and dies with the kernel (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
import signal
import sys
import time
from collections import deque
from typing import Any, Callable

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.errors import InvalidParams
from qualia.plugin_sdk.manifest import Manifest

from .errors import (InvalidInput, PluginCrashed, PluginFault, PluginProtocolError, PluginStartFailed,
                     PluginTimeout, QualiaError)

log = logging.getLogger("qualia.process")

STDERR_TAIL_LINES = 40
STDERR_LINE_CHARS = 2000
# Lines of at least 64 MiB must pass; leave room for the JSON-RPC envelope.
READ_LIMIT = p.MAX_LINE_BYTES + 1024 * 1024

ProgressCallback = Callable[[p.ProgressParams], None]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGKILL the child when the kernel dies, so no plugin is orphaned."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: stdin EOF still ends SDK plugins


class PluginProcess:
    def __init__(self, manifest: Manifest, *, start_timeout_s: float = 10.0, cancel_grace_s: float = 2.0,
                 stop_grace_s: float = 2.0) -> None:
        self.manifest = manifest
        self.start_timeout_s = start_timeout_s
        self.cancel_grace_s = cancel_grace_s
        self.stop_grace_s = stop_grace_s
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.started_at: float | None = None
        self.calls = 0
        self.retired = False  # no longer given work; being stopped
        self.on_progress: dict[p.RequestId, ProgressCallback] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._codec = p.LineCodec()
        self._ids = itertools.count(1)
        self._pending: dict[p.RequestId, asyncio.Future[msgspec.Raw]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stderr_reader: asyncio.Task[None] | None = None
        self._exit_reason: PluginFault | None = None
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self._exit_reason is None

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def command(self) -> list[str]:
        return [sys.executable if part == "{python}" else part for part in self.manifest.command]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["QUALIA_PLUGIN_ID"] = self.manifest.id
        return env

    async def start(self) -> None:
        """Spawn the child and complete the handshake, or raise PluginStartFailed."""
        name = self.manifest.id
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(), cwd=self.manifest.path, env=self._environment(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                limit=READ_LIMIT, start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise PluginStartFailed(f"plugin {name!r} could not start {self.command()}: {exc}", plugin=name) from None
        self.started_at = time.monotonic()
        self._reader = asyncio.create_task(self._read_stdout(), name=f"{name}-stdout")
        self._stderr_reader = asyncio.create_task(self._read_stderr(), name=f"{name}-stderr")
        try:
            raw = await self.request(p.METHOD_INITIALIZE, p.InitializeParams(protocol=p.PROTOCOL),
                                     timeout=self.start_timeout_s, retire_on_timeout=False)
            hello = msgspec.json.decode(raw, type=p.InitializeResult)
        except (QualiaError, msgspec.ValidationError) as exc:
            await self.kill()
            reason = exc.message if isinstance(exc, QualiaError) else f"bad initialize result: {exc}"
            raise PluginStartFailed(f"plugin {name!r} failed to start: {reason}", plugin=name,
                                    stderr_tail=list(self.stderr_tail)) from None
        mismatch = [f"{key} {got!r} != manifest {want!r}" for key, got, want in (
            ("protocol", hello.protocol, p.PROTOCOL), ("id", hello.id, name),
            ("version", hello.version, self.manifest.version)) if got != want]
        if mismatch:
            await self.kill()
            raise PluginStartFailed(f"plugin {name!r} failed the handshake: {'; '.join(mismatch)}", plugin=name,
                                    stderr_tail=list(self.stderr_tail))

    async def stop(self) -> None:
        """Ask politely (shutdown, exit), then SIGTERM, then SIGKILL; always reap."""
        if self._proc is None:
            return
        self._stopping = True
        self.retired = True
        if self.alive:
            try:
                await self.request(p.METHOD_SHUTDOWN, None, timeout=self.stop_grace_s, retire_on_timeout=False)
                self._send(p.Notification(method=p.NOTIFY_EXIT))
                await asyncio.wait_for(self._proc.wait(), self.stop_grace_s)
            except (QualiaError, asyncio.TimeoutError):
                pass  # it would not go quietly: the ladder below handles it
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self._proc.returncode is not None:
                break
            self._signal_group(sig)
            try:
                await asyncio.wait_for(self._proc.wait(), self.stop_grace_s)
            except asyncio.TimeoutError:
                continue
        await self._reap()

    async def kill(self) -> None:
        self._stopping = True
        self.retired = True
        if self._proc is not None and self._proc.returncode is None:
            self._signal_group(signal.SIGKILL)
        await self._reap()

    def _signal_group(self, sig: int) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, sig)  # the child leads its own session: grandchildren too
        except ProcessLookupError:
            pass

    async def _reap(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            await self._proc.wait()
        for task in (self._reader, self._stderr_reader):
            if task is not None and not task.done():
                try:
                    await asyncio.wait_for(task, 1.0)
                except asyncio.TimeoutError:
                    task.cancel()
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        self._fail_pending(self._crash_error())

    # ---- requests -----------------------------------------------------------

    async def request(self, method: str, params: Any, *, timeout: float | None = None,
                      progress: ProgressCallback | None = None, retire_on_timeout: bool = True) -> msgspec.Raw:
        """Send one request and wait for its answer.

        On deadline or caller cancellation the plugin gets `$/cancel`; the process is
        retired (no more work) and killed if it has not answered within the grace period.
        """
        if not self.alive:
            raise self._exit_reason or self._crash_error()
        request_id = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[msgspec.Raw] = loop.create_future()
        self._pending[request_id] = future
        if progress is not None:
            self.on_progress[request_id] = progress
        deadline = timeout if timeout is not None else self.manifest.timeout_s
        timer = loop.call_later(deadline, self._expire, request_id, deadline)
        self.calls += 1
        try:
            self._send(p.Request(id=request_id, method=method, params=params))
            assert self._proc is not None and self._proc.stdin is not None
            if self._proc.stdin.transport.get_write_buffer_size() > 1 << 20:
                await self._proc.stdin.drain()  # back-pressure only for big messages
            return await future
        except PluginTimeout:
            self._abandon(request_id, retire_on_timeout)
            raise
        except asyncio.CancelledError:
            self._abandon(request_id, True)
            raise
        except (BrokenPipeError, ConnectionResetError):
            raise await self._wait_exit_reason() from None
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)
            self.on_progress.pop(request_id, None)

    def _send(self, message: msgspec.Struct) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        if self._proc.stdin.is_closing():
            raise BrokenPipeError
        self._proc.stdin.write(self._codec.encode(message))

    def _expire(self, request_id: p.RequestId, deadline: float) -> None:
        future = self._pending.get(request_id)
        if future is not None and not future.done():
            future.set_exception(PluginTimeout(
                f"plugin {self.manifest.id!r} did not answer within {deadline:g} s", plugin=self.manifest.id,
                timeout_s=deadline, stderr_tail=list(self.stderr_tail)))

    def _abandon(self, request_id: p.RequestId, retire: bool) -> None:
        """Tell the plugin to stop; give it a grace period, then kill it."""
        if not self.alive:
            return
        try:
            self._send(p.Notification(method=p.NOTIFY_CANCEL, params=p.CancelParams(id=request_id)))
        except (BrokenPipeError, ConnectionResetError):
            return
        if retire:
            self.retired = True
            asyncio.get_running_loop().create_task(self._kill_after_grace())

    async def _kill_after_grace(self) -> None:
        await asyncio.sleep(self.cancel_grace_s)
        if self.alive:
            log.warning("plugin %s (pid %s) ignored $/cancel for %.1f s: killing it",
                        self.manifest.id, self.pid, self.cancel_grace_s)
        await self.kill()

    # ---- readers ------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        decode = self._codec.decode
        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # longer than READ_LIMIT
                self._protocol_violation(f"a line longer than {READ_LIMIT} bytes")
                return
            if not line:
                break
            try:
                message = decode(line)
            except msgspec.DecodeError:
                if line.strip():
                    self._protocol_violation(f"non JSON-RPC output on stdout: {line[:200]!r}")
                    return
                continue
            self._dispatch(message, line)
        reason = await self._wait_exit_reason()
        self._fail_pending(reason)

    def _dispatch(self, message: p.Message, line: bytes) -> None:
        if message.method is not msgspec.UNSET:
            if message.method == p.NOTIFY_PROGRESS and message.params is not msgspec.UNSET:
                try:
                    progress = msgspec.json.decode(message.params, type=p.ProgressParams)
                except msgspec.ValidationError:
                    return  # progress is advisory; a bad one is dropped
                callback = self.on_progress.get(progress.id)
                if callback is not None:
                    callback(progress)
            return  # other notifications from a plugin are ignored
        if message.id is msgspec.UNSET or (message.result is msgspec.UNSET and message.error is msgspec.UNSET):
            self._protocol_violation(f"a message that is neither a response nor a notification: {line[:200]!r}")
            return
        future = self._pending.get(message.id) if message.id is not None else None
        if future is None:
            if message.error is not msgspec.UNSET and message.id is None:
                log.warning("plugin %s reported: %s", self.manifest.id, message.error.message)
            return  # a late answer to a cancelled request
        if future.done():
            return
        if message.error is not msgspec.UNSET:
            future.set_exception(self._error_from_wire(message.error))
        else:
            future.set_result(message.result)  # type: ignore[arg-type]

    def _error_from_wire(self, error: p.ErrorObject) -> QualiaError:
        name = self.manifest.id
        if error.code == InvalidParams.code:
            details = error.data if isinstance(error.data, dict) else {}
            return InvalidInput(f"plugin {name!r} rejected the input: {error.message}", plugin=name, **details)
        return PluginFault(f"plugin {name!r} failed: {error.message}", plugin=name, rpc_code=error.code,
                           traceback=error.data if isinstance(error.data, str) else None,
                           stderr_tail=list(self.stderr_tail))

    def _protocol_violation(self, what: str) -> None:
        error = PluginProtocolError(f"plugin {self.manifest.id!r} broke the protocol: {what}",
                                    plugin=self.manifest.id, stderr_tail=list(self.stderr_tail))
        self._exit_reason = error
        self._fail_pending(error)
        self.retired = True
        asyncio.get_running_loop().create_task(self.kill())

    async def _read_stderr(self) -> None:
        """Drain stderr forever (a chatty plugin must never block), keeping the last lines."""
        assert self._proc is not None and self._proc.stderr is not None
        partial = b""
        while chunk := await self._proc.stderr.read(1 << 16):
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()[-STDERR_LINE_CHARS:]
            for line in lines[-STDERR_TAIL_LINES:]:
                self.stderr_tail.append(line[:STDERR_LINE_CHARS].decode("utf-8", "replace").rstrip())
        if partial:
            self.stderr_tail.append(partial.decode("utf-8", "replace").rstrip())

    async def _wait_exit_reason(self) -> PluginFault:
        if self._exit_reason is not None:
            return self._exit_reason
        assert self._proc is not None
        try:
            await asyncio.wait_for(self._proc.wait(), 1.0)
            if self._stderr_reader is not None:
                await asyncio.wait_for(asyncio.shield(self._stderr_reader), 0.5)
        except asyncio.TimeoutError:
            pass
        return self._crash_error()

    def _crash_error(self) -> PluginFault:
        if self._exit_reason is not None:
            return self._exit_reason
        code = self._proc.returncode if self._proc else None
        name = self.manifest.id
        if self._stopping:
            what = "was stopped"
        elif code is None:
            what = "closed its stdout"
        elif code < 0:
            try:
                what = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"exited with code {code}"
        last = f": {self.stderr_tail[-1]}" if self.stderr_tail else ""
        return PluginCrashed(f"plugin {name!r} {what}{last}", plugin=name, exit_code=code,
                             stderr_tail=list(self.stderr_tail))

    def _fail_pending(self, error: QualiaError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
