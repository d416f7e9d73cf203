"""`watch_folder`: keep a batch's output in step with a folder (`qualia watch`).

On start it runs the batch once (what changed while nobody watched, and
sources deleted meanwhile leave the index). Then watchfiles reports changes;
a round begins once the folder has been quiet for `quiet_ms` (a file still
being written is not read half-way: a later write starts another round and
its new bytes are processed again). New and changed files go through the
same unit of work, executor and store as `qualia batch`, so results are the
same; deleted files leave the index and their folder; a bad file is reported
and watching goes on. Setting `stop` ends the watch after the current round
is cancelled cleanly; the kernel and its plugins stop with it.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..pipeline import PipelineSpec, load_pipeline, plan_pipeline
from ..settings import Settings
from .executor import Executor, LocalExecutor, default_workers, local_kernel
from .progress import BatchProgress, SilentListener
from .runner import BatchReport, finish_store, plan_sources, prepare_store, run_sources
from .sources import Discovery, Source, discover, ignored, key_of, matches
from .speakers import load_aliases
from .work import WorkOptions, plan_fingerprint

__all__ = ["watch_folder"]

log = logging.getLogger("qualia.corpus.watch")


async def watch_folder(folder: Path, pipeline: Path | PipelineSpec, out: Path, *, settings: Settings | None = None,
                       workers: int | None = None, include: Sequence[str] = (), exclude: Sequence[str] = (),
                       aliases: Path | dict[str, str] | None = None, listener: Any = None,
                       stop: asyncio.Event | None = None, quiet_ms: int = 500, clean: bool | None = None,
                       text_column: str | None = None, executor: Executor | None = None) -> int:
    """Watch until `stop` is set. `listener` is a ProgressListener that may also have `watching(folder)`,
    `removed(key)` and `round_done(report)`."""
    import watchfiles

    settings = settings or Settings.from_env()
    workers = workers or default_workers()
    spec = pipeline if isinstance(pipeline, PipelineSpec) else load_pipeline(Path(pipeline))
    alias_map = aliases if isinstance(aliases, dict) else (load_aliases(aliases) if aliases else {})
    listener = listener or SilentListener()
    stop = stop or asyncio.Event()
    root = os.path.abspath(folder)
    out_real = os.path.realpath(out)
    async with local_kernel(settings, workers) as kernel:
        plan = plan_pipeline(kernel, spec)
        options = WorkOptions(clean=clean, text_column=text_column, limits=settings.archive_limits)
        fingerprint = plan_fingerprint(plan, options)
        store = prepare_store(out, spec, plan, alias_map, fingerprint)
        executor = executor or LocalExecutor(kernel, workers=workers, options=options)
        try:
            # What changed while nobody watched: the batch's own resume check.
            discovery = discover([root], include=include, exclude=exclude, skip=[out])
            present = {source.key for source in discovery.sources}
            for key in [key for key in store.current() if key not in present]:
                store.remove(key)
                _call(listener, "removed", key)
            first = plan_sources(discovery, store, fingerprint)
            await _round(executor, plan, spec, store, first.run, listener, alias_map, fingerprint)
            _call(listener, "watching", root)

            def wanted(change: Any, path: str) -> bool:
                if os.path.realpath(path).startswith(out_real + os.sep) or ignored(os.path.basename(path)):
                    return False
                key = key_of(path, root)
                return not ((include and not matches(key, include)) or (exclude and matches(key, exclude)))

            async for changes in watchfiles.awatch(root, stop_event=stop, watch_filter=wanted, step=quiet_ms,
                                                   debounce=max(quiet_ms * 4, 1600), recursive=True,
                                                   ignore_permission_denied=True):
                changed: dict[str, str] = {}
                for _, path in sorted(changes, key=lambda change: change[1]):
                    key = key_of(path, root)
                    if os.path.isfile(path):
                        changed[key] = path
                    elif not os.path.exists(path) and key in store.current():
                        store.remove(key)
                        changed.pop(key, None)
                        _call(listener, "removed", key)
                    elif os.path.isdir(path):  # a folder moved in: everything inside it
                        for source in discover([path], include=include, exclude=exclude, skip=[out]).sources:
                            changed[key_of(source.path, root)] = source.path
                sources = [Source(key=key, path=path) for key, path in sorted(changed.items())]
                todo = plan_sources(Discovery(sources=sources, problems=[], root=root), store, fingerprint).run
                await _round(executor, plan, spec, store, todo, listener, alias_map, fingerprint)
        finally:
            store.close()
    return 0


async def _round(executor: Executor, plan: Any, spec: PipelineSpec, store: Any, sources: list[Source],
                 listener: Any, aliases: dict[str, str], fingerprint: str) -> None:
    report = BatchReport(out=str(store.out))
    if sources:
        progress = BatchProgress()
        report = await run_sources(executor, plan, spec, store, sources, fingerprint=fingerprint, listener=listener,
                                   progress=progress,
                                   report=BatchReport(out=str(store.out), found=len(sources)))
        report.elapsed_s = round(progress.elapsed_s, 3)
        listener.finished(progress)
    report.overview = finish_store(store, aliases, f"Qualia watch: {spec.name}")
    _call(listener, "round_done", report)


def _call(listener: Any, name: str, *args: Any) -> None:
    method = getattr(listener, name, None)
    if method is not None:
        method(*args)
