"""`KernelThread`: a kernel on its own event loop thread, driven from synchronous code.

Plugin authors' tests (the `qualia_kernel` fixture), notebooks and scripts get a
real kernel (real child processes, the result cache, pipelines) without writing
asyncio: each method hands a coroutine to the kernel's loop and waits for it.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Coroutine, TypeVar

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document

from .kernel import Kernel
from .pipeline import PipelineRun, PipelineSpec, parse_pipeline, plan_pipeline, run_plan
from .registry import BUNDLED_PLUGINS, Registry
from .settings import Settings

T = TypeVar("T")

__all__ = ["KernelThread"]


class KernelThread:
    """A started kernel: the bundled plugins (unless `bundled=False`), `plugin_folders` (single plugin
    folders, which win over a bundled or installed plugin of the same id) and `plugin_path` folders.

    `timeout` bounds each call from this thread. Stop it with `stop()` or a `with` block.
    """

    def __init__(self, home: Path, *, plugin_folders: list[Path] | None = None, plugin_path: list[Path] | None = None,
                 bundled: bool = True, entry_points: bool = False, timeout: float = 120.0,
                 **settings: Any) -> None:
        self.timeout = timeout
        self.settings = Settings(home=Path(home), plugin_path=list(plugin_path or []), use_entry_points=entry_points,
                                 **settings)
        registry = Registry(self.settings.plugin_path, entry_points=entry_points,
                            bundled=BUNDLED_PLUGINS if bundled else None, plugin_folders=plugin_folders)
        self.kernel = Kernel(self.settings, registry=registry)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="qualia-kernel", daemon=True)
        self._thread.start()
        try:
            self._call(self.kernel.start())
        except BaseException:
            self._close_loop()
            raise

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(self.timeout)

    @property
    def plugins(self) -> list[str]:
        return sorted(self.kernel.registry.manifests)

    def run(self, plugin_id: str, document: Document | str, config: dict[str, Any] | None = None,
            inputs: dict[str, Any] | None = None, *, use_cache: bool = False) -> Any:
        """One plugin call: an analyzer's result dict, a Document, or a VisualizerResult."""
        if isinstance(document, str):
            document = Document(text=document)
        output = self._call(self.kernel.run(plugin_id, document, config, inputs, use_cache=use_cache))
        if isinstance(output, p.AnalyzerResult):
            return output.result
        if isinstance(output, p.DocumentResult):
            return output.document
        return output

    def pipeline(self, document: Document | str, steps: list[str | dict[str, Any]] | PipelineSpec, *,
                 name: str = "pipeline", use_cache: bool = False) -> PipelineRun:
        """Run pipeline steps (plugin ids, step tables as in a pipeline file, or a PipelineSpec) on one document."""
        if isinstance(document, str):
            document = Document(text=document)
        spec = steps if isinstance(steps, PipelineSpec) else parse_pipeline(
            {"name": name, "steps": [{"plugin": step} if isinstance(step, str) else step for step in steps]})

        async def go() -> PipelineRun:
            plan = plan_pipeline(self.kernel, spec)
            return await run_plan(self.kernel, plan, document, name=spec.name, use_cache=use_cache)

        return self._call(go())

    def results(self, run: PipelineRun) -> dict[str, Any]:
        """Each step's result, document or figure by step id: `results(run)["word_frequency"]`."""
        out: dict[str, Any] = {}
        for step in run.steps:
            out[step.id] = step.result if step.result is not None else (
                step.document if step.document is not None else step.figure)
        return out

    def status(self, plugin_id: str) -> dict[str, Any] | None:
        status = self.kernel.plugin_status(plugin_id)
        return msgspec.to_builtins(status) if status is not None else None

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self.kernel.stop())
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> "KernelThread":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
