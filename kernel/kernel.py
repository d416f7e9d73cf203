"""`Kernel`: the embeddable object that owns the registry and one supervisor per plugin.

No global state: start it, use it, stop it (`async with Kernel(settings) as k`);
several kernels can live in one process or one per worker.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Callable

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import ConfigError, Manifest, validate_config

from qualia.plugin_sdk.manifest import FORMAT_MEDIA_TYPES

from .analysis import Analysis, FigureOutput, StepResult, artefacts_of, choose_cleaner, cleaning_config, is_cleaner
from .errors import (InvalidConfig, InvalidInput, InvalidRequest, KernelStopped, PluginChanged, PluginProtocolError,
                     QualiaError, ResolutionError)
from .cache import CacheError, ResultCache, cache_key
from .process import SUBREAPER, GroupLedger, ProgressCallback, reap_leftovers
from .readers import document_layout
from .registry import Registry
from .resolver import resolve_order
from .settings import Settings
from .supervisor import PluginStatus, PluginSupervisor

log = logging.getLogger("qualia.kernel")

RunResult = p.AnalyzerResult | p.DocumentResult | p.VisualizerResult
_RESULT_TYPES: dict[str, type[msgspec.Struct]] = {
    "analyzer": p.AnalyzerResult, "document": p.DocumentResult, "visualizer": p.VisualizerResult}


class Execution(msgspec.Struct, kw_only=True):
    output: RunResult
    cached: bool


class Kernel:
    def __init__(self, settings: Settings | None = None, *, registry: Registry | None = None) -> None:
        self.settings = settings or Settings.from_env()
        # `is None`, not `or`: a Registry with no manifests loaded yet is falsy (it has __len__).
        self.registry = registry if registry is not None else Registry(
            self.settings.plugin_path, entry_points=self.settings.use_entry_points)
        self._supervisors: dict[str, PluginSupervisor] = {}
        self._decoders = {kind: msgspec.json.Decoder(cls) for kind, cls in _RESULT_TYPES.items()}
        self.started_at: float | None = None
        self.cache: ResultCache | None = None
        self._preloads: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()  # supervisors of reloaded plugins, finishing their calls
        self._running = False
        self._default_configs: dict[str, tuple[Manifest, dict[str, Any]]] = {}  # the hot path: no config given
        self.ledger: GroupLedger | None = None

    @property
    def run_dir(self) -> Path:
        """Where kernels on this home record their plugins' process groups."""
        return self.settings.home / "run"

    async def start(self) -> "Kernel":
        self.registry.reload()
        self.settings.home.mkdir(parents=True, exist_ok=True)
        await reap_leftovers(self.run_dir)  # what a killed predecessor on this home left behind
        self.ledger = GroupLedger(self.run_dir)
        if self.settings.cache_max_bytes > 0:
            try:
                self.cache = ResultCache(self.settings.cache_path, self.settings.cache_max_bytes)
            except CacheError as exc:
                log.error("result cache disabled: %s", exc)
        self.started_at = time.monotonic()
        SUBREAPER.hold()  # orphans of our plugins come back to us (Linux), to be reaped
        self._running = True
        self._start_preloads()
        return self

    def _start_preloads(self) -> None:
        """Start the plugins named in `settings.preload` in the background; failures are only logged
        (and counted by the plugin's breaker), so one broken plugin does not stop the kernel."""
        wanted = self.settings.preload
        ids = sorted(self.registry.manifests) if "all" in wanted else wanted
        for plugin_id in ids:
            if plugin_id not in self.registry.manifests:
                log.error("QUALIA_PRELOAD names unknown plugin %r", plugin_id)
                continue
            task = asyncio.get_running_loop().create_task(self._preload(plugin_id), name=f"preload-{plugin_id}")
            self._preloads.add(task)
            task.add_done_callback(self._preloads.discard)

    async def _preload(self, plugin_id: str) -> None:
        try:
            await self.check(plugin_id)
        except QualiaError as exc:
            log.error("preloading %s failed: %s", plugin_id, exc.message)

    async def stop(self) -> None:
        """Stop every plugin process (shutdown, exit, then terminate and kill) and reap their groups.

        From the first line on no process starts: calls in flight and waiting fail with KernelStopped.
        """
        was_running, self._running = self._running, False
        for task in self._preloads:
            task.cancel()
        await asyncio.gather(*self._preloads, return_exceptions=True)
        await asyncio.gather(*(sup.stop() for sup in self._supervisors.values()), *self._retiring,
                             return_exceptions=True)
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        if was_running:
            SUBREAPER.release()
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    @property
    def running(self) -> bool:
        """True between start() and stop(): the kernel accepts work."""
        return self._running

    async def __aenter__(self) -> "Kernel":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def supervisor(self, plugin_id: str) -> PluginSupervisor:
        if not self._running:
            raise KernelStopped("the kernel is not running")
        manifest = self.registry.get(plugin_id)
        supervisor = self._supervisors.get(plugin_id)
        if supervisor is None:
            supervisor = self._supervisors[plugin_id] = PluginSupervisor(manifest, self.settings,
                                                                         ledger=self.ledger)
            supervisor.before_spawn = lambda: self._check_code(plugin_id)
        return supervisor

    def _check_code(self, plugin_id: str) -> None:
        """Before a process starts: never new code under an old manifest (see Registry.refresh_code)."""
        if not self.registry.refresh_code(plugin_id):
            raise PluginChanged(f"plugin {plugin_id!r}: plugin.toml changed on disk since it was loaded; reload it",
                                plugin=plugin_id)

    def prepare_config(self, manifest: Manifest, config: dict[str, Any] | None) -> dict[str, Any]:
        """Validate before anything is sent; return the full config with defaults.

        The project's defaults (`Settings.plugin_defaults`: qualia.toml, QUALIA_LANGUAGE, ...) sit between the
        manifest's defaults and `config`; a bad one is named with where it was set.
        """
        if not config:  # defaults only: validated once per manifest (a reload replaces the object)
            cached = self._default_configs.get(manifest.id)
            if cached is not None and cached[0] is manifest:
                return dict(cached[1])
        project = self.settings.plugin_defaults(manifest)
        try:
            full = validate_config(manifest, {**project, **(config or {})})
        except ConfigError as exc:
            key = exc.key.split("[", 1)[0]
            origin = (f" (set in {self.settings.parameter_origin(manifest.id, key)})"
                      if key in project and key not in (config or {}) else "")
            raise InvalidConfig(f"invalid config for plugin {manifest.id!r}: {exc}{origin}", plugin=manifest.id,
                                key=exc.key) from None
        if not config:
            self._default_configs[manifest.id] = (manifest, dict(full))
        return full

    def cleaner_for(self, manifest: Manifest, document: Document, clean: bool | None = None) -> Manifest | None:
        """The cleaner to run before `manifest` on `document`, or None.

        `clean=None` (the default everywhere): only when the document is a transcript that no cleaner
        parsed yet (`readers.document_layout`) and a cleaner is installed. True: always (a ResolutionError
        if none is installed). False: never. A cleaner never runs before itself.
        """
        if clean is False or is_cleaner(manifest):
            return None
        if clean is None and (document.segments is not None or document_layout(document) is None):
            return None
        cleaner = choose_cleaner(self.registry, self.settings.cleaner)
        if cleaner is None and clean:
            raise ResolutionError("cleaning needs a plugin providing 'segments' (a transcript cleaner); none is "
                                  "installed", artefact="segments")
        return cleaner

    async def analyze(self, plugin_id: str, document: Document, config: dict[str, Any] | None = None, *,
                      inputs: dict[str, Any] | None = None, configs: dict[str, dict[str, Any]] | None = None,
                      clean: bool | None = None, resolve: bool = True, use_cache: bool = True,
                      validated: bool = False, progress: ProgressCallback | None = None,
                      step_progress: Callable[[str, p.ProgressParams], None] | None = None,
                      request_id: str | None = None) -> Analysis:
        """One plugin on one document, its requirements resolved: the single-analysis path.

        `inputs` holds artefacts the caller already has; the missing ones are made first by their
        providers (`resolve_order`; `resolve=False` refuses instead, InvalidInput), after the cleaner
        (see `cleaner_for`). `configs` configures those other steps by plugin id (the cleaner starts
        from CLEANING_DEFAULTS). Every config is validated before anything runs. The target's
        StepResult is `analysis.target`; pipelines run their steps through `run_step`, the same call.
        `progress` gets the target's `$/progress`; `step_progress` every step's, with the step's id.
        """
        manifest = self.registry.get(plugin_id)
        target_config = (config or {}) if validated else self.prepare_config(manifest, config)
        inputs = inputs or {}
        configs = configs or {}
        plan: list[tuple[Manifest, dict[str, Any]]] = []
        cleaner = self.cleaner_for(manifest, document, clean)
        available = set(inputs)
        if cleaner is not None:
            plan.append((cleaner, self.prepare_config(cleaner, cleaning_config(cleaner, configs.get(cleaner.id)))))
            available.update(cleaner.provides)
        if resolve and any(artefact not in available for artefact in manifest.requires):
            for provider in resolve_order(self.registry, manifest.id, available)[:-1]:
                plan.append((provider, self.prepare_config(provider, configs.get(provider.id))))
        unknown = sorted(set(configs) - {step.id for step, _ in plan})
        if unknown:
            steps = ", ".join([step.id for step, _ in plan] + [manifest.id])
            raise InvalidRequest(f"`configs` names {unknown[0]!r}, which is not a step of this run (steps: {steps})",
                                 field=f"$.configs.{unknown[0]}", plugin=unknown[0])
        results: list[StepResult] = []
        artefacts = dict(inputs)
        for step, step_config in plan:
            result = await self.run_step(step, document, step_config, {name: artefacts[name] for name in step.requires},
                                         use_cache=use_cache, request_id=request_id,
                                         progress=_relay(step_progress, step.id))
            results.append(result)
            if result.document is not None:
                document = result.document
            artefacts.update(artefacts_of(step, result))
        target_inputs = inputs if not plan else {**inputs, **{name: artefacts[name] for name in manifest.requires
                                                              if name in artefacts}}
        results.append(await self.run_step(manifest, document, target_config, target_inputs, use_cache=use_cache,
                                           progress=progress or _relay(step_progress, manifest.id),
                                           request_id=request_id))
        return Analysis(steps=results, document=document, cleaner=cleaner.id if cleaner is not None else None)

    async def run_step(self, manifest: Manifest, document: Document, config: dict[str, Any],
                       inputs: dict[str, Any], *, step_id: str | None = None, use_cache: bool = True,
                       progress: ProgressCallback | None = None, request_id: str | None = None) -> StepResult:
        """One validated call, timed, as a StepResult (a figure keeps its bytes in `figure.data`)."""
        started = time.perf_counter()
        execution = await self.execute(manifest.id, document, config, inputs, use_cache=use_cache, validated=True,
                                       progress=progress, request_id=request_id)
        result = StepResult(id=step_id or manifest.id, plugin=manifest.id, kind=manifest.kind,
                            cached=execution.cached, elapsed_ms=round((time.perf_counter() - started) * 1000, 3))
        output = execution.output
        if isinstance(output, p.AnalyzerResult):
            result.result = output.result
        elif isinstance(output, p.DocumentResult):
            result.document = output.document
        else:
            fmt = config["format"]
            result.figure = FigureOutput(media_type=FORMAT_MEDIA_TYPES.get(fmt, output.media_type), format=fmt,
                                         size=len(output.data), data=output.data)
        return result

    async def run(self, plugin_id: str, document: Document, config: dict[str, Any] | None = None,
                  inputs: dict[str, Any] | None = None, *, use_cache: bool = True,
                  progress: ProgressCallback | None = None, request_id: str | None = None) -> RunResult:
        """One `run` call on a plugin; the result is typed by the plugin's kind."""
        execution = await self.execute(plugin_id, document, config, inputs, use_cache=use_cache, progress=progress,
                                       request_id=request_id)
        return execution.output

    async def execute(self, plugin_id: str, document: Document, config: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, *, use_cache: bool = True, validated: bool = False,
                      progress: ProgressCallback | None = None, request_id: str | None = None,
                      retry: bool = True) -> Execution:
        """Like `run`, answered from the result cache when the same call was made before."""
        manifest = self.registry.get(plugin_id)
        full_config = (config or {}) if validated else self.prepare_config(manifest, config)
        inputs = inputs or {}
        missing = [name for name in manifest.requires if name not in inputs]
        if missing:
            raise InvalidInput(f"plugin {plugin_id!r} requires the artefact(s) {missing} in inputs",
                               plugin=plugin_id, missing=missing)
        decoder = self._decoders[manifest.kind]
        key = None
        if use_cache and self.cache is not None:
            key = cache_key(manifest.id, manifest.version, full_config, document, inputs,
                            self.registry.code_hash(manifest.id))
            stored = self._cache_get(key)
            if stored is not None:
                return Execution(output=decoder.decode(stored), cached=True)
        params = p.RunParams(document=document, config=full_config, inputs=inputs, request_id=request_id)
        try:
            raw = await self.supervisor(plugin_id).call(p.METHOD_RUN, params, progress=progress)
        except PluginChanged:
            if not retry:
                raise
            # New code on disk: load it with its manifest, then run again (validated against the new manifest).
            await self.reload_plugins()
            return await self.execute(plugin_id, document, config, inputs, use_cache=use_cache, progress=progress,
                                      request_id=request_id, retry=False)
        try:
            output = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise PluginProtocolError(f"plugin {plugin_id!r} returned a malformed {manifest.kind} result: {exc}",
                                      plugin=plugin_id) from None
        if key is not None and self.cache is not None:  # the kernel may have stopped meanwhile
            self._cache_put(key, manifest.id, bytes(raw))
        return Execution(output=output, cached=False)

    def _cache_get(self, key: str) -> bytes | None:
        assert self.cache is not None
        try:
            return self.cache.get(key)
        except CacheError as exc:  # a broken cache must not break analyses
            log.error("cache read failed: %s", exc)
            return None

    def _cache_put(self, key: str, plugin_id: str, value: bytes) -> None:
        assert self.cache is not None
        try:
            self.cache.put(key, plugin_id, value)
        except CacheError as exc:
            log.error("cache write failed: %s", exc)

    async def reload_plugins(self) -> list[str]:
        """Re-read every manifest while running; return the ids whose manifest or code changed or vanished.

        A changed plugin gets a new supervisor with its new manifest at once, so the next call
        starts the new code; the old one takes no new calls, lets those in flight finish on the
        old version (up to the old manifest's timeout), then stops its processes: this returns
        when they are gone.
        """
        before = dict(self.registry.code_hashes)
        self.registry.reload()
        changed = sorted(plugin_id for plugin_id, supervisor in self._supervisors.items()
                         if self.registry.manifests.get(plugin_id) != supervisor.manifest
                         or self.registry.code_hash(plugin_id) != before.get(plugin_id))
        drains = []
        for plugin_id in changed:
            supervisor = self._supervisors.pop(plugin_id)
            drains.append(self._in_background(
                supervisor.drain(supervisor.manifest.timeout_s + self.settings.cancel_grace_s)))
        if drains:  # shielded: a caller that goes away must not leave old processes behind
            await asyncio.shield(asyncio.gather(*drains, return_exceptions=True))
        return changed

    def reset_breaker(self, plugin_id: str) -> PluginStatus | None:
        """Close a plugin's circuit breaker by hand; None when the plugin has not been used yet."""
        self.registry.get(plugin_id)
        supervisor = self._supervisors.get(plugin_id)
        if supervisor is None:
            return None
        supervisor.reset_breaker()
        return supervisor.status()

    def _in_background(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return task

    async def check(self, plugin_id: str) -> PluginStatus:
        """Start the plugin (handshake included) and return its status; raises on failure."""
        try:
            await self.supervisor(plugin_id).ensure_started()
        except PluginChanged:
            await self.reload_plugins()
            await self.supervisor(plugin_id).ensure_started()
        return self._supervisors[plugin_id].status()

    def plugin_status(self, plugin_id: str) -> PluginStatus | None:
        supervisor = self._supervisors.get(plugin_id)
        return supervisor.status() if supervisor else None

    def status(self) -> dict[str, PluginStatus]:
        return {plugin_id: sup.status() for plugin_id, sup in self._supervisors.items()}


def _relay(step_progress: Callable[[str, p.ProgressParams], None] | None, step_id: str) -> ProgressCallback | None:
    """A plugin's progress callback that tells `step_progress` which step it is."""
    if step_progress is None:
        return None
    return lambda note: step_progress(step_id, note)
