"""`PluginSupervisor`: keeps a plugin's processes, dispatches calls to an idle one,
restarts crashed ones with backoff and feeds its circuit breaker."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import msgspec

from qualia.plugin_sdk.manifest import Manifest

from .breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from .errors import InvalidInput, PluginBusy, PluginFault
from .process import PluginProcess, ProgressCallback
from .settings import Settings

log = logging.getLogger("qualia.supervisor")

MAX_BACKOFF_S = 5.0


class ProcessStatus(msgspec.Struct, kw_only=True):
    pid: int | None
    alive: bool
    busy: bool
    calls: int
    uptime_s: float | None


class PluginStatus(msgspec.Struct, kw_only=True):
    id: str
    state: str  # idle | running | open | half-open | stopped
    breaker: BreakerSnapshot
    processes: list[ProcessStatus]
    restarts: int
    calls: int
    failures: int
    waiting: int
    last_error: str | None
    stderr_tail: list[str]


class PluginSupervisor:
    def __init__(self, manifest: Manifest, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.manifest = manifest
        self.settings = settings
        self.breaker = CircuitBreaker(manifest.id, settings.breaker_failures, settings.breaker_open_s, clock)
        self.restarts = 0
        self.calls = 0
        self.last_error: str | None = None
        self._slots: asyncio.Queue[PluginProcess | None] = asyncio.Queue()
        for _ in range(manifest.concurrency):
            self._slots.put_nowait(None)
        self._processes: set[PluginProcess] = set()  # every process not yet reaped
        self._ever_started = 0
        self._crash_streak = 0
        self._waiting = 0
        self._closed = False
        self._last_stderr: list[str] = []
        self._background: set[asyncio.Task[None]] = set()
        # Called before every process start; may raise (the kernel raises PluginChanged when the plugin's
        # files no longer match this manifest, so a restart never runs new code under an old manifest).
        self.before_spawn: Callable[[], None] | None = None

    # ---- calls ----------------------------------------------------------------

    async def call(self, method: str, params: Any, *, timeout: float | None = None,
                   progress: ProgressCallback | None = None) -> msgspec.Raw:
        trial = self.breaker.before_call()
        verdict = False
        try:
            process = await self._acquire()
            try:
                self.calls += 1
                process = await self._usable(process)
                result = await process.request(method, params, timeout=timeout, progress=progress)
            finally:
                self._release(process)
            self.breaker.record_success()
            self._crash_streak = 0
            verdict = True
            return result
        except PluginFault as exc:
            self._record_fault(exc)
            verdict = True
            raise
        except InvalidInput:
            raise  # the caller's fault: the breaker does not count it
        finally:
            if trial and not verdict:
                self.breaker.abandon_trial()

    async def _acquire(self) -> PluginProcess | None:
        try:
            return self._slots.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if self._waiting >= self.settings.queue_limit:
            raise PluginBusy(f"plugin {self.manifest.id!r} is busy: {self._waiting} requests already waiting",
                             plugin=self.manifest.id, retry_after_s=1)
        self._waiting += 1
        try:
            return await asyncio.wait_for(self._slots.get(), self.settings.queue_timeout_s)
        except asyncio.TimeoutError:
            raise PluginBusy(f"plugin {self.manifest.id!r} is busy: no process free within "
                             f"{self.settings.queue_timeout_s:g} s", plugin=self.manifest.id, retry_after_s=1) from None
        finally:
            self._waiting -= 1

    async def _usable(self, process: PluginProcess | None) -> PluginProcess:
        """The slot's process if it can take work, else a fresh one."""
        if process is not None and process.alive and not process.retired:
            return process
        if process is not None:
            self._in_background(self._discard(process))
        return await self._spawn()

    def _release(self, process: PluginProcess | None) -> None:
        if process is not None and (process.retired or not process.alive):
            self._last_stderr = list(process.stderr_tail)
            self._in_background(self._discard(process))
            process = None
        self._slots.put_nowait(process)

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _spawn(self) -> PluginProcess:
        if self.before_spawn is not None:
            self.before_spawn()
        if self._crash_streak:
            # Back off on repeated crashes so a broken plugin cannot spin the CPU.
            await asyncio.sleep(min(MAX_BACKOFF_S, 0.05 * 2 ** (self._crash_streak - 1)))
        if self._ever_started:
            self.restarts += 1
        self._ever_started += 1
        process = PluginProcess(self.manifest, start_timeout_s=self.settings.start_timeout_s,
                                cancel_grace_s=self.settings.cancel_grace_s, stop_grace_s=self.settings.stop_grace_s)
        self._processes.add(process)
        try:
            await process.start()
        except PluginFault:
            self._processes.discard(process)
            raise
        log.info("started plugin %s (pid %s)", self.manifest.id, process.pid)
        return process

    def _record_fault(self, exc: PluginFault) -> None:
        self.last_error = exc.message
        self._crash_streak += 1
        was_open = self.breaker.state is BreakerState.OPEN
        self.breaker.record_failure()
        log.warning("%s (breaker %s, %d in a row)", exc.message, self.breaker.state,
                    self.breaker.consecutive_failures)
        if self.breaker.state is BreakerState.OPEN and not was_open:
            # The half-open trial must run on a fresh process: retire every current one.
            for process in list(self._processes):
                process.retired = True  # busy ones are stopped when their call returns
                if not process.busy:
                    self._in_background(self._discard(process))

    async def _discard(self, process: PluginProcess) -> None:
        process.retired = True
        await process.stop()
        self._processes.discard(process)

    # ---- lifecycle and state -------------------------------------------------

    async def ensure_started(self) -> PluginProcess:
        """Start a process now (for `doctor` and preloading); a start failure counts as a fault."""
        process = await self._acquire()
        try:
            process = await self._usable(process)
            return process
        except PluginFault as exc:
            self._record_fault(exc)
            raise
        finally:
            self._release(process)

    def reset_breaker(self) -> None:
        """Close the breaker by hand (an author fixed the plugin): the next call starts a fresh process."""
        self.breaker.reset()
        self._crash_streak = 0

    async def drain(self, timeout: float) -> None:
        """Stop once the calls in flight have finished (at most `timeout` seconds), taking no new ones."""
        taken = 0
        try:
            async with asyncio.timeout(timeout):
                while taken < self.manifest.concurrency:
                    await self._slots.get()
                    taken += 1
        except TimeoutError:
            log.warning("plugin %s: calls still running after %g s; stopping it anyway", self.manifest.id, timeout)
        await self.stop()

    async def stop(self) -> None:
        self._closed = True
        await asyncio.gather(*(process.stop() for process in list(self._processes)),
                             *list(self._background), return_exceptions=True)
        self._processes.clear()

    def status(self) -> PluginStatus:
        now = time.monotonic()
        live = [proc for proc in self._processes if proc.pid is not None]
        breaker = self.breaker.snapshot()
        if breaker.state is not BreakerState.CLOSED:
            state = str(breaker.state)
        elif self._closed:
            state = "stopped"
        elif any(proc.busy for proc in live):
            state = "running"
        else:
            state = "idle"
        tails = [list(proc.stderr_tail) for proc in live if proc.stderr_tail]
        return PluginStatus(
            id=self.manifest.id, state=state, breaker=breaker, restarts=self.restarts, calls=self.calls,
            failures=breaker.total_failures, waiting=self._waiting, last_error=self.last_error,
            stderr_tail=tails[-1] if tails else self._last_stderr,
            processes=[ProcessStatus(pid=proc.pid, alive=proc.alive, busy=proc.busy, calls=proc.calls,
                                     uptime_s=round(now - proc.started_at, 3) if proc.started_at else None)
                       for proc in live])
