#!/usr/bin/env python3
"""Restart a plugin many times and check that nothing accumulates in the kernel process.

The plugin (tests/fixtures/problem_plugin.py `forker`) starts `sleep 1000`
children that hold its stdout and stderr and ignores SIGTERM. Each round kills
it while idle (SIGKILL), then, every other round, makes a call crash it. After
N restarts and after the kernel stops, it prints the kernel's open descriptors,
the processes left in the plugin's folder and the zombies among the kernel's
children, and exits 1 if any grew.
Usage: scripts/soak_restarts.py [--restarts 1000] [--sleepers 1]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qualia.kernel import Kernel, Settings  # noqa: E402
from qualia.kernel.errors import PluginCrashed  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402

PLUGIN = ROOT / "tests" / "fixtures" / "problem_plugin.py"
DOC = Document(text="x")


def left_in(folder: Path) -> list[int]:
    wanted = str(folder.resolve())
    return [proc.pid for proc in psutil.process_iter(["cwd", "status"])
            if proc.info["cwd"] == wanted and proc.info["status"] != psutil.STATUS_ZOMBIE]


def zombies() -> int:
    return sum(1 for child in psutil.Process().children() if child.status() == psutil.STATUS_ZOMBIE)


async def alive_pid(kernel: Kernel) -> int:
    while True:
        pids = [proc.pid for proc in kernel.plugin_status("soak").processes if proc.alive]
        if pids:
            return pids[0]
        await asyncio.sleep(0.001)


async def soak(restarts: int, sleepers: int) -> int:
    base = Path(tempfile.mkdtemp(prefix="qualia-soak-"))
    folder = base / "plugins" / "soak"
    folder.mkdir(parents=True)
    (folder / "mode").write_text("ok")
    (folder / "plugin.toml").write_text(
        'id = "soak"\nname = "soak"\nversion = "1.0.0"\nkind = "analyzer"\n'
        f'command = ["{{python}}", "-S", "{PLUGIN}", "forker", "{sleepers}"]\ntimeout_s = 5\n')
    settings = Settings(home=base / "home", plugin_path=[base / "plugins"], use_entry_points=False,
                        breaker_failures=10**6, restart_limit=10**6)
    me = psutil.Process()
    kernel = await Kernel(settings).start()
    await kernel.run("soak", DOC, use_cache=False)
    fds_start, zombies_start = me.num_fds(), zombies()
    started = time.monotonic()
    for round_ in range(restarts):
        if round_ % 2:
            (folder / "mode").write_text("fail")
            try:
                await kernel.run("soak", DOC, use_cache=False)
            except PluginCrashed:
                pass
            (folder / "mode").write_text("ok")
        else:
            pid = await alive_pid(kernel)
            os.kill(pid, signal.SIGKILL)
            while any(proc.pid == pid and proc.alive for proc in kernel.plugin_status("soak").processes):
                await asyncio.sleep(0.001)
        await kernel.run("soak", DOC, use_cache=False)
        if (round_ + 1) % 100 == 0:
            print(f"{round_ + 1} restarts: {me.num_fds()} fds, {len(left_in(folder))} processes in the plugin's "
                  f"folder, {zombies()} zombies", flush=True)
    elapsed = time.monotonic() - started
    fds_end = me.num_fds()
    status = kernel.plugin_status("soak")
    await kernel.stop()
    left, zombie_count = left_in(folder), zombies() - zombies_start
    shutil.rmtree(base, ignore_errors=True)
    print(f"{status.restarts} restarts in {elapsed:.1f} s ({elapsed / max(1, status.restarts) * 1000:.0f} ms each)")
    print(f"kernel descriptors: {fds_start} -> {fds_end}; after stop: {len(left)} processes left, "
          f"{zombie_count} new zombies")
    return 0 if fds_end - fds_start <= 2 and not left and zombie_count <= 0 else 1


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=1000)
    parser.add_argument("--sleepers", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(soak(args.restarts, args.sleepers)))


if __name__ == "__main__":
    main()
