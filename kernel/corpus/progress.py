"""The model of a batch's progress, apart from how it is shown.

The runner updates a `BatchProgress` and tells a `ProgressListener`; the CLI
renders it (a bar on a terminal, plain lines otherwise), a job stores it, a
test records it. Rate and ETA count only the documents processed in this
run, not those skipped as already done.
"""
from __future__ import annotations

import time
from typing import Protocol

import msgspec

from qualia.plugin_sdk import protocol as p

from .work import Failure, SourceOutcome

__all__ = ["BatchProgress", "ProgressListener", "SilentListener"]


class BatchProgress(msgspec.Struct, kw_only=True):
    total: int = 0          # sources to process in this run
    done: int = 0           # processed so far (ok or failed)
    failed: int = 0         # sources with at least one failure
    skipped: int = 0        # already done by an earlier run, with the same bytes and pipeline
    documents: int = 0      # documents analysed (a CSV source holds several)
    started: float = msgspec.field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Sources per second in this run."""
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None


class ProgressListener(Protocol):
    def started(self, progress: BatchProgress) -> None: ...

    def source_done(self, progress: BatchProgress, outcome: SourceOutcome) -> None: ...

    def step_progress(self, key: str, step: str, note: p.ProgressParams) -> None: ...

    def problem(self, path: str, failure: Failure) -> None: ...

    def finished(self, progress: BatchProgress) -> None: ...


class SilentListener:
    """Shows nothing: for library callers that only want the report."""

    def started(self, progress: BatchProgress) -> None:
        pass

    def source_done(self, progress: BatchProgress, outcome: SourceOutcome) -> None:
        pass

    def step_progress(self, key: str, step: str, note: p.ProgressParams) -> None:
        pass

    def problem(self, path: str, failure: Failure) -> None:
        pass

    def finished(self, progress: BatchProgress) -> None:
        pass
