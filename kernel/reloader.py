"""`qualia serve --reload`: watch the plugin folders and reload what changed, like `datasette --reload`.

watchfiles (Rust `notify`: inotify on Linux) reports saved changes, grouped until
the folder has been quiet for `step_ms` (an editor's write-then-rename counts
once); then `Kernel.reload_plugins` re-reads every manifest and code hash and
restarts exactly the plugins that changed, new manifest and new processes
together, letting calls in flight finish on the old version. Watched: the
bundled plugins folder, every QUALIA_PLUGIN_PATH folder (so a new plugin folder
appears), and the folder of every other discovered plugin (entry points,
folders named directly). Caches, VCS folders and node_modules are ignored.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import DefaultFilter, awatch

from .kernel import Kernel

log = logging.getLogger("qualia.reloader")


def watched_folders(kernel: Kernel) -> list[Path]:
    """The folders to watch, without any that lies inside another one."""
    registry = kernel.registry
    roots = [path for path in [registry.bundled, *registry.search_paths] if path is not None and path.is_dir()]
    roots += [Path(manifest.path) for manifest in registry]
    unique: list[Path] = []
    for path in sorted({path.resolve() for path in roots}, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(outer) for outer in unique):
            unique.append(path)
    return sorted(unique)


class PluginWatcher:
    def __init__(self, kernel: Kernel, *, step_ms: int = 100, debounce_ms: int = 1600) -> None:
        self.kernel = kernel
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.reloads = 0  # how many reloads changes triggered (for tests and logs)

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop` is set; re-arms when the set of plugin folders changes."""
        while not stop.is_set():
            folders = watched_folders(self.kernel)
            if not folders:
                await stop.wait()
                return
            log.info("watching %d plugin folder(s) for changes: %s", len(folders), ", ".join(map(str, folders)))
            async for changes in awatch(*folders, stop_event=stop, step=self.step_ms, debounce=self.debounce_ms,
                                        watch_filter=DefaultFilter(), recursive=True):
                try:
                    changed = await self.kernel.reload_plugins()
                except Exception:  # a reload must never stop the watcher (or the server)
                    log.exception("reloading plugins failed")
                    continue
                self.reloads += 1
                paths = sorted({Path(path).name for _, path in changes})
                log.info("plugin files changed (%s): reloaded %s", ", ".join(paths[:5]),
                         ", ".join(changed) if changed else "no running plugin")
                for problem in self.kernel.registry.problems:
                    log.warning("plugin problem after reload: %s: %s", problem.path, problem.reason)
                if watched_folders(self.kernel) != folders:
                    break
