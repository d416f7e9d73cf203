"""Executors: where the units of work run. The batch runner, watch and jobs only see `Executor`.

`LocalExecutor` runs `process_source` in this event loop against one kernel
whose plugins keep `workers` processes each (so the OS spreads the plugin
processes over the cores), with a bounded number of sources in flight: memory
stays flat whatever the corpus size, and outcomes stream back as they
finish, not in input order. `dask_executor.DaskExecutor` (one kernel per
Dask worker, `qualia batch --cluster`) implements the same `map`.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import msgspec

from ..kernel import Kernel
from ..pipeline import PlannedStep
from ..settings import Settings
from .work import SourceOutcome, StepProgress, WorkItem, WorkOptions, process_source

__all__ = ["DASK_INSTALL", "Executor", "LocalExecutor", "default_workers", "local_kernel"]

# The Dask executor (the dask_executor package, `--cluster`) is an optional extra, imported only when asked for.
DASK_INSTALL = "pip install 'qualia-core[dask]'"


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """Runs work items through a plan and yields their outcomes as they finish."""

    workers: int

    def map(self, items: Iterable[WorkItem], plan: list[PlannedStep], *, pipeline: str,
            progress: StepProgress | None = None) -> AsyncIterator[SourceOutcome]: ...


class LocalExecutor:
    def __init__(self, kernel: Any, *, workers: int, in_flight: int | None = None,
                 options: WorkOptions = WorkOptions()) -> None:
        self.kernel = kernel
        self.workers = workers
        self.in_flight = in_flight
        self.options = options

    def limit(self, plan: list[PlannedStep]) -> int:
        """Sources in flight: enough to keep every step's processes busy, far below the kernel's queue limit."""
        if self.in_flight is not None:
            return self.in_flight
        wanted = self.workers * max(1, len(plan)) + 1
        return max(1, min(wanted, self.kernel.settings.queue_limit // 2 or 1))

    async def map(self, items: Iterable[WorkItem], plan: list[PlannedStep], *, pipeline: str,
                  progress: StepProgress | None = None) -> AsyncIterator[SourceOutcome]:
        limit = self.limit(plan)
        pending: set[asyncio.Task[SourceOutcome]] = set()
        iterator = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    item = next(iterator, None)
                    if item is None:
                        exhausted = True
                        break
                    pending.add(asyncio.ensure_future(process_source(
                        self.kernel, plan, item, pipeline=pipeline, options=self.options, progress=progress)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()  # an exception (raise_unavailable) ends the map: the rest is cancelled
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


@asynccontextmanager
async def local_kernel(settings: Settings, workers: int) -> AsyncIterator[Kernel]:
    """A kernel whose plugins each keep `workers` processes, stopped (with its plugins) on exit."""
    async with Kernel(msgspec.structs.replace(settings, plugin_concurrency=workers)) as kernel:
        yield kernel
