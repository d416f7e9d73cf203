"""Reaping: when a plugin goes, its whole process group goes, and no zombie is left behind.

On Linux a running Kernel makes its process a child subreaper
(PR_SET_CHILD_SUBREAPER): the children of a plugin that died are re-parented to
the kernel instead of to PID 1, so they can be found (they keep the plugin's
process group) and collected with waitpid. Elsewhere the group is still killed
and PID 1 collects it.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import threading
import time

import psutil

log = logging.getLogger("qualia.process")

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


LIBC = _load_libc()  # loaded once: the child calls prctl between fork and exec, where loading is unwise


def prctl(option: int, value: int) -> bool:
    return LIBC is not None and LIBC.prctl(option, value, 0, 0, 0) == 0


class _Subreaper:
    """Process-wide: on while at least one Kernel of this process runs (kernels may run in several threads)."""

    def __init__(self) -> None:
        self.holders = 0
        self.active = False
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            self.holders += 1
            if self.holders == 1:
                self.active = prctl(PR_SET_CHILD_SUBREAPER, 1)

    def release(self) -> None:
        with self._lock:
            self.holders = max(0, self.holders - 1)
            if self.holders == 0 and self.active:
                prctl(PR_SET_CHILD_SUBREAPER, 0)
                self.active = False


SUBREAPER = _Subreaper()


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False when it has no member left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by someone else's processes
        log.warning("process group %d is not ours any more: not signalled", pgid)
        return False
    return True


def adopted_members(pgid: int) -> list[int]:
    """Our children in the group `pgid` other than its leader: a dead plugin's re-parented children."""
    found = []
    for child in psutil.Process().children():
        try:
            if child.pid != pgid and os.getpgid(child.pid) == pgid:
                found.append(child.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


async def collect(pids: list[int], timeout: float = 5.0) -> list[int]:
    """waitpid each of our children in `pids` once it has died; return the ones still alive at `timeout`."""
    deadline = time.monotonic() + timeout
    left = []
    for pid in pids:
        while not _reaped(pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                left.append(pid)
                break
            await _exit_of(pid, remaining)
    return left


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours, or already collected
        return True
    return done == pid


async def _exit_of(pid: int, timeout: float) -> None:
    """Wait until `pid` exits (a pidfd becomes readable), at most `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd (old kernel or not Linux): poll
        await asyncio.sleep(min(timeout, 0.01))
        return
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
    try:
        await asyncio.wait_for(readable, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def reap_group(pgid: int, timeout: float = 5.0) -> None:
    """Kill what is left of a plugin's process group once the plugin itself has exited, and collect the
    members that were re-parented to us."""
    if not signal_group(pgid, signal.SIGKILL):
        return
    if SUBREAPER.active:
        left = await collect(adopted_members(pgid), timeout)
        if left:
            log.error("processes %s of plugin group %d did not die within %.0f s of SIGKILL", left, pgid, timeout)
