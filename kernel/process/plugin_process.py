"""`PluginProcess`: one plugin child process and the JSON-RPC conversation with it.

It composes the three layers of this package: the framing (`ChildPipes`), the
endpoint (ids, deadlines, `$/cancel`, errors from the wire) and the child
lifecycle (own session, memory ceiling, stop ladder, exit detection, reaping).
`start()` returns once the handshake answered; `stop()` asks (shutdown, exit),
then signals the group (SIGTERM, SIGKILL), and always reaps. The moment the
process exits, its group is killed and its pending calls fail.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from typing import Any, Coroutine

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.manifest import Manifest

from ..errors import (PluginCrashed, PluginFault, PluginOutOfMemory, PluginProtocolError, PluginStartFailed,
                      PluginTimeout, QualiaError)
from .child import KILL_WAIT_S, ChildProcess
from .endpoint import Endpoint, ProgressCallback, memory_note
from .framing import ChildPipes
from .ledger import GroupLedger

log = logging.getLogger("qualia.process")

EXIT_DRAIN_S = 0.5  # after an exit: how long a pipe held outside the process group may delay the error
STDOUT_CLOSED_GRACE_S = 1.0  # stdout ended: time to exit on its own before the process counts as broken
OUT_OF_MEMORY = re.compile(r"MemoryError|Cannot allocate memory|out of memory|bad_alloc", re.IGNORECASE)


class PluginProcess:
    def __init__(self, manifest: Manifest, *, start_timeout_s: float = 10.0, cancel_grace_s: float = 2.0,
                 stop_grace_s: float = 2.0, max_memory_mb: int | None = None,
                 ledger: GroupLedger | None = None) -> None:
        self.manifest = manifest
        self.start_timeout_s = start_timeout_s
        self.cancel_grace_s = cancel_grace_s
        self.stop_grace_s = stop_grace_s
        self.max_memory_mb = max_memory_mb
        self.ledger = ledger
        self.started_at: float | None = None
        self.calls = 0
        self.retired = False  # no longer given work; being stopped
        self._pipes = ChildPipes(self._on_message, self._protocol_violation)
        self._endpoint = Endpoint(manifest.id, self._pipes, on_violation=self._protocol_violation,
                                  stderr_tail=self._tail, max_memory_mb=max_memory_mb)
        self._child: ChildProcess | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._exit_reason: PluginFault | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- state ----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    @property
    def alive(self) -> bool:
        return self._child is not None and self._child.returncode is None and self._exit_reason is None

    @property
    def busy(self) -> bool:
        return self._endpoint.busy

    @property
    def stderr_tail(self) -> deque[str]:
        return self._pipes.stderr.lines

    def _tail(self) -> list[str]:
        return list(self._pipes.stderr.lines)

    def command(self) -> list[str]:
        return [sys.executable if part == "{python}" else part for part in self.manifest.command]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["QUALIA_PLUGIN_ID"] = self.manifest.id
        if self.ledger is not None:
            env.update(self.ledger.environment)
        return env

    # ---- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the child and complete the handshake, or raise PluginStartFailed."""
        name = self.manifest.id
        try:
            self._child = await ChildProcess.spawn(self.command(), self._pipes, cwd=self.manifest.path,
                                                   env=self._environment(), max_memory_mb=self.max_memory_mb)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PluginStartFailed(f"plugin {name!r} could not start {self.command()}: {exc}", plugin=name) from None
        if self.ledger is not None:
            self.ledger.add(self._child.pgid)
        self.started_at = time.monotonic()
        self._watcher = asyncio.get_running_loop().create_task(self._follow(self._child), name=f"{name}-exit")
        try:
            raw = await self.request(p.METHOD_INITIALIZE, p.InitializeParams(protocol=p.PROTOCOL),
                                     timeout=self.start_timeout_s, retire_on_timeout=False)
            hello = msgspec.json.decode(raw, type=p.InitializeResult)
        except (QualiaError, msgspec.ValidationError) as exc:
            await self.kill()
            reason = exc.message if isinstance(exc, QualiaError) else f"bad initialize result: {exc}"
            raise PluginStartFailed(f"plugin {name!r} failed to start: {reason}", plugin=name,
                                    stderr_tail=self._tail()) from None
        mismatch = [f"{key} {got!r} != manifest {want!r}" for key, got, want in (
            ("protocol", hello.protocol, p.PROTOCOL), ("id", hello.id, name),
            ("version", hello.version, self.manifest.version)) if got != want]
        if mismatch:
            await self.kill()
            raise PluginStartFailed(f"plugin {name!r} failed the handshake: {'; '.join(mismatch)}", plugin=name,
                                    stderr_tail=self._tail())

    async def stop(self) -> None:
        """Ask politely (shutdown, exit), then SIGTERM, then SIGKILL the group; always reap."""
        if self._child is None:
            return
        self._stopping = True
        self.retired = True
        self._cancel_tasks()
        if self.alive:
            try:
                await self._endpoint.request(p.METHOD_SHUTDOWN, None, timeout=self.stop_grace_s)
                self._endpoint.notify(p.NOTIFY_EXIT)
                await self._child.wait_exit(self.stop_grace_s)
            except (QualiaError, BrokenPipeError, ConnectionResetError):
                pass  # it would not go quietly: the signals handle it
        await self._child.terminate(self.stop_grace_s)
        await self._reaped()

    async def kill(self) -> None:
        self._stopping = True
        self.retired = True
        if self._child is None:
            return
        if self._child.returncode is None:
            self._child.signal_group(signal.SIGKILL)
        if await self._child.wait_exit(KILL_WAIT_S):
            await self._reaped()

    async def _reaped(self) -> None:
        if self._watcher is not None:
            await asyncio.shield(self._watcher)

    async def _follow(self, child: ChildProcess) -> None:
        """Notice the end of the process and clean up after it: group, pending calls, pipes, ledger."""
        try:
            await asyncio.wait([child.exited, self._pipes.stdout_closed], return_when=asyncio.FIRST_COMPLETED)
            if not child.exited.done() and not await child.wait_exit(STDOUT_CLOSED_GRACE_S):
                # Its stdout is gone but it lives: it can never answer again.
                self._endpoint.fail_all(self._crash_error())
                self.retired = True
                child.signal_group(signal.SIGKILL)
                await child.wait_exit(KILL_WAIT_S)
            # The process has exited: kill what is left of its group (no grandchild may hold the pipes), read
            # what it wrote before dying, fail what it will never answer.
            if not await child.finish_output(EXIT_DRAIN_S):
                log.warning("plugin %s (pid %d) exited, but a process outside its group still holds its pipes",
                            self.manifest.id, child.pid)
            self._endpoint.fail_all(self._crash_error())
            await child.release()
        except Exception:  # never leave a dead plugin unreaped silently
            log.exception("reaping plugin %s (pid %d) failed", self.manifest.id, child.pid)
        finally:
            if self.ledger is not None:
                self.ledger.discard(child.pgid)

    # ---- requests -----------------------------------------------------------

    async def request(self, method: str, params: Any, *, timeout: float | None = None,
                      progress: ProgressCallback | None = None, retire_on_timeout: bool = True) -> msgspec.Raw:
        """Send one request and wait for its answer.

        On deadline or caller cancellation the plugin gets `$/cancel`; the process is
        retired (no more work) and killed if it has not answered within the grace period.
        """
        if not self.alive:
            raise self._exit_reason or self._crash_error()
        self.calls += 1
        deadline = timeout if timeout is not None else self.manifest.timeout_s
        try:
            return await self._endpoint.request(method, params, timeout=deadline, progress=progress)
        except PluginTimeout:
            self._abandon(retire_on_timeout)
            raise
        except asyncio.CancelledError:
            self._abandon(True)
            raise
        except (BrokenPipeError, ConnectionResetError):
            raise await self._exit_error() from None

    def _abandon(self, retire: bool) -> None:
        """After `$/cancel` (sent by the endpoint): give the plugin a grace period, then kill it."""
        if retire and self.alive:
            self.retired = True
            self._in_background(self._kill_after_grace())

    async def _kill_after_grace(self) -> None:
        await asyncio.sleep(self.cancel_grace_s)
        if self.alive:
            log.warning("plugin %s (pid %s) ignored $/cancel for %.1f s: killing it",
                        self.manifest.id, self.pid, self.cancel_grace_s)
        await self.kill()

    def _on_message(self, message: p.Message, line: bytes) -> None:
        self._endpoint.receive(message, line)

    def _protocol_violation(self, what: str) -> None:
        error = PluginProtocolError(f"plugin {self.manifest.id!r} broke the protocol: {what}",
                                    plugin=self.manifest.id, stderr_tail=self._tail())
        self._exit_reason = error
        self._endpoint.fail_all(error)
        self.retired = True
        self._in_background(self.kill())

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    # ---- why it ended ---------------------------------------------------------------

    async def _exit_error(self) -> PluginFault:
        """The error for a call that found stdin closed: the process is exiting, let it finish first."""
        if self._exit_reason is None and self._watcher is not None:
            await asyncio.wait([self._watcher], timeout=STDOUT_CLOSED_GRACE_S + EXIT_DRAIN_S)
        return self._exit_reason or self._crash_error()

    def _crash_error(self) -> PluginFault:
        if self._exit_reason is not None:
            return self._exit_reason
        code = self._child.returncode if self._child else None
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
        tail = self._tail()
        last = f": {tail[-1]}" if tail else ""
        if self.max_memory_mb and not self._stopping and any(OUT_OF_MEMORY.search(line) for line in tail):
            return PluginOutOfMemory(f"plugin {name!r} {what} after running out of memory; "
                                     f"{memory_note(self.max_memory_mb)}{last}", plugin=name, exit_code=code,
                                     max_memory_mb=self.max_memory_mb, stderr_tail=tail)
        return PluginCrashed(f"plugin {name!r} {what}{last}", plugin=name, exit_code=code, stderr_tail=tail)
