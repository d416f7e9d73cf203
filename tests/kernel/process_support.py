"""Helpers for tests of plugin processes: wait on a condition, find what a plugin left behind."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

import psutil


async def until(predicate: Callable[[], object], *, timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.01)


def processes_in(folder: Path) -> list[psutil.Process]:
    """Live processes whose working directory is `folder`: a plugin and everything it started."""
    wanted = str(folder.resolve())
    found = []
    for proc in psutil.process_iter(["cwd", "status"]):
        if proc.info["cwd"] == wanted and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def zombie_children() -> set[int]:
    """Children of the test process that exited and were never reaped."""
    zombies = set()
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                zombies.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return zombies


def sleepers_in(folder: Path) -> list[psutil.Process]:
    return [proc for proc in processes_in(folder) if proc.name() == "sleep"]
