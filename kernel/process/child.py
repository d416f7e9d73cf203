"""The child process of a plugin: spawned in its own session under its memory ceiling, signalled as a
group, stopped by a bounded ladder (SIGTERM, then SIGKILL), its exit noticed the moment it happens
(not when its pipes close: a grandchild may hold them), and reaped with its whole group."""
from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
from typing import Callable

from .framing import ChildPipes
from .reaper import PR_SET_PDEATHSIG, prctl, reap_group, signal_group

log = logging.getLogger("qualia.process")

MIB = 1024 * 1024
KILL_WAIT_S = 5.0  # after SIGKILL; only a process stuck in the kernel (state D) takes longer


def memory_limit(max_memory_mb: int | None) -> int | None:
    """The RLIMIT_DATA soft limit in bytes for a ceiling in MiB, never above the current hard limit."""
    if not max_memory_mb:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = max_memory_mb * MIB
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def _child_setup(limit: int | None) -> Callable[[], None]:
    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the kernel, so no plugin is orphaned
        if limit is not None:
            # RLIMIT_DATA (Linux >= 4.7) counts private writable memory: heap and anonymous mappings, not
            # reserved address space, so threads and mapped libraries do not eat the ceiling as RLIMIT_AS would.
            resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    return setup


class ChildProcess:
    def __init__(self, transport: asyncio.SubprocessTransport, pipes: ChildPipes) -> None:
        self.transport = transport
        self.pipes = pipes
        self.pid: int = transport.get_pid()
        self.pgid = self.pid  # it leads its own session, hence its own group
        self._closed = False

    @classmethod
    async def spawn(cls, command: list[str], pipes: ChildPipes, *, cwd: str | None, env: dict[str, str],
                    max_memory_mb: int | None = None) -> "ChildProcess":
        """Start `command` with pipes on stdin/stdout/stderr; OSError when it cannot start."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: pipes, *command, cwd=cwd or None, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=_child_setup(memory_limit(max_memory_mb)))
        return cls(transport, pipes)

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode()

    @property
    def exited(self) -> asyncio.Future[int]:
        return self.pipes.exited

    def signal_group(self, sig: int) -> bool:
        return signal_group(self.pgid, sig)

    async def wait_exit(self, timeout: float) -> bool:
        """True when the process has exited within `timeout` seconds."""
        if not self.exited.done():
            await asyncio.wait([self.exited], timeout=timeout)
        return self.exited.done()

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM to the group, then SIGKILL after `grace_s`; returns once the process has exited."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, KILL_WAIT_S)):
            if self.exited.done():
                return
            self.signal_group(sig)
            if await self.wait_exit(wait_s):
                return
        log.error("pid %d did not exit within %.0f s of SIGKILL", self.pid, KILL_WAIT_S)

    async def finish_output(self, drain_s: float) -> bool:
        """After the exit: kill what is left of the group, so no grandchild holds the pipes, and read what the
        process wrote before it died. False when something outside the group still holds them."""
        self.signal_group(signal.SIGKILL)
        return await self.pipes.wait_output_closed(drain_s)

    async def release(self) -> None:
        """After the exit: collect the group's re-parented members and close every pipe."""
        await reap_group(self.pgid)
        if not self._closed:
            self._closed = True
            self.pipes.close()
