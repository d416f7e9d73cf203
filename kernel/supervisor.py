"""`PluginSupervisor`: keeps a plugin's processes, dispatches calls to an idle one, restarts
crashed ones as its `RestartPolicy` allows and feeds its circuit breaker.

Composition: `PluginProcess` (one child and its conversation), `RestartPolicy`
(when to start one again), `CircuitBreaker` (when to stop trying for a while).
Too many restarts in the policy's window open the breaker, as five faults in a
row do. Once stopped, no process starts and every waiting call fails with
KernelStopped.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import msgspec

from qualia.plugin_sdk.manifest import Manifest

from .breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from .errors import InvalidInput, KernelStopped, PluginBusy, PluginFault
from .process import GroupLedger, PluginProcess, ProgressCallback, RestartDecision, RestartPolicy
from .settings import Settings

log = logging.getLogger("qualia.supervisor")


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
    def __init__(self, manifest: Manifest, settings: Settings, clock: Callable[[], float] = time.monotonic,
                 *, ledger: GroupLedger | None = None) -> None:
        self.manifest = manifest
        self.settings = settings
        self.ledger = ledger
        # A half-open trial may queue, start a process and run once; past that it is lost, not pending.
        trial_timeout_s = settings.queue_timeout_s + settings.start_timeout_s + manifest.timeout_s \
            + settings.cancel_grace_s
        self.breaker = CircuitBreaker(manifest.id, settings.breaker_failures, settings.breaker_open_s, clock,
                                      trial_timeout_s=trial_timeout_s)
        self.restart_policy = RestartPolicy(manifest.id, limit=settings.restart_limit,
                                            window_s=settings.restart_window_s, stable_s=settings.restart_stable_s,
                                            clock=clock)
        self.restart_policy.add_listener(self._on_restart_decision)
        self.restarts = 0
        self.calls = 0
        self.last_error: str | None = None
        self._slots: asyncio.Queue[PluginProcess | None] = asyncio.Queue()
        for _ in range(manifest.concurrency):
            self._slots.put_nowait(None)
        self._processes: set[PluginProcess] = set()  # every process not yet reaped
        self._ever_started = 0
        self._waiting = 0
        self._closed = False
        self._last_stderr: list[str] = []
        self._background: set[asyncio.Task[None]] = set()
        # Called before every process start; may raise (the kernel raises PluginChanged when the plugin's
        # files no longer match this manifest, so a restart never runs new code under an old manifest).
        self.before_spawn: Callable[[], None] | None = None

    @property
    def max_memory_mb(self) -> int | None:
        """The manifest's ceiling, else the kernel's default (0 there: none)."""
        return self.manifest.max_memory_mb or self.settings.max_memory_mb or None

    # ---- calls ----------------------------------------------------------------

    async def call(self, method: str, params: Any, *, timeout: float | None = None,
                   progress: ProgressCallback | None = None) -> msgspec.Raw:
        self._check_open()
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
            self.restart_policy.record_success()
            verdict = True
            return result
        except PluginFault as exc:
            if self._closed:  # cut off by the stop, not the plugin's fault
                raise self._stopped() from exc
            self._record_fault(exc)
            verdict = True
            raise
        except InvalidInput:
            raise  # the caller's fault: the breaker does not count it
        finally:
            if trial and not verdict:
                self.breaker.abandon_trial()

    def _check_open(self) -> None:
        if self._closed:
            raise self._stopped()

    def _stopped(self) -> KernelStopped:
        return KernelStopped(f"plugin {self.manifest.id!r} is stopped: the kernel is stopping or reloaded it",
                             plugin=self.manifest.id)

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
            slot = await asyncio.wait_for(self._slots.get(), self.settings.queue_timeout_s)
        except asyncio.TimeoutError:
            raise PluginBusy(f"plugin {self.manifest.id!r} is busy: no process free within "
                             f"{self.settings.queue_timeout_s:g} s", plugin=self.manifest.id, retry_after_s=1) from None
        finally:
            self._waiting -= 1
        if self._closed:
            self._slots.put_nowait(slot)  # wake the next waiter: it fails the same way
            raise self._stopped()
        return slot

    async def _usable(self, process: PluginProcess | None) -> PluginProcess:
        """The slot's process if it can take work, else a fresh one."""
        self._check_open()
        if process is not None and process.alive and not process.retired:
            return process
        if process is not None:
            self._in_background(self._discard(process))
        return await self._spawn()

    def _release(self, process: PluginProcess | None) -> None:
        if self._closed:  # stop() reaps every process itself
            self._slots.put_nowait(None)
            return
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
        self._check_open()
        if self.before_spawn is not None:
            self.before_spawn()
        if self._ever_started >= self.manifest.concurrency:
            decision = self.restart_policy.next_restart()
            if not decision.allowed:
                if self._closed:
                    raise self._stopped()
                self.breaker.trip(f"({decision.reason})")
                self.restart_policy.reset()  # the breaker's trial, later, may start a process
                raise self.breaker.rejection()
            if decision.delay_s:
                await asyncio.sleep(decision.delay_s)  # back off on repeated faults
            self._check_open()
            self.restarts += 1
        self._ever_started += 1
        process = PluginProcess(self.manifest, start_timeout_s=self.settings.start_timeout_s,
                                cancel_grace_s=self.settings.cancel_grace_s, stop_grace_s=self.settings.stop_grace_s,
                                max_memory_mb=self.max_memory_mb, ledger=self.ledger)
        self._processes.add(process)
        try:
            await process.start()
        except PluginFault:
            self._processes.discard(process)
            raise
        if self._closed:  # the kernel stopped while this one started
            await self._discard(process)
            raise self._stopped()
        log.info("started plugin %s (pid %s)", self.manifest.id, process.pid)
        return process

    def _on_restart_decision(self, decision: RestartDecision) -> None:
        if decision.allowed:
            log.info("restarting plugin %s (%d restarts in %g s, backoff %.2f s)", self.manifest.id,
                     decision.restarts_in_window, self.restart_policy.window_s, decision.delay_s)
        elif not self._closed:
            log.error("%s: its circuit breaker opens", decision.reason)

    def _record_fault(self, exc: PluginFault) -> None:
        self.last_error = exc.message
        self.restart_policy.record_fault()
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
        if process.started_at is not None:
            self.restart_policy.record_exit(time.monotonic() - process.started_at)
        self._processes.discard(process)

    # ---- lifecycle and state -------------------------------------------------

    async def ensure_started(self) -> PluginProcess:
        """Start a process now (for `doctor` and preloading); a start failure counts as a fault."""
        self._check_open()
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
        self.restart_policy.record_success()  # no backoff left over
        self.restart_policy.reset()

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
        """Stop every process; calls in flight and waiting fail with KernelStopped, nothing starts again."""
        self._closed = True
        self.restart_policy.close()
        for _ in range(self._waiting):
            self._slots.put_nowait(None)  # wake the waiting calls now: each fails with KernelStopped
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
