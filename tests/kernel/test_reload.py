"""Reloading plugins while the kernel runs: calls in flight finish on the old version, new calls get the new
manifest and code together, a restarted process never runs new code under an old manifest, edits never
answer from a stale cache, and an open breaker can be closed by hand."""
from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

from qualia.kernel.errors import BreakerOpen, PluginCrashed
from qualia.plugin_sdk import Document

DOC = Document(text="bom dia")


def versioned_plugin(root: Path, plugin_id: str, answer: str, *, version: str = "1.0.0", gate: Path | None = None,
                     crash: bool = False) -> Path:
    """An SDK plugin answering {"answer": answer}; with `gate`, a run first writes gate.started and waits for
    gate.release (outside the plugin folder, so the gate never changes the plugin's code hash)."""
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        id = "{plugin_id}"
        name = "{plugin_id}"
        version = "{version}"
        kind = "analyzer"
        command = ["{{python}}", "plugin.py"]
        timeout_s = 20
        """), encoding="utf-8")
    wait = ""
    if gate is not None:
        wait = (f"        open({str(gate) + '.started'!r}, 'w').close()\n"
                f"        while not os.path.exists({str(gate) + '.release'!r}):\n"
                f"            time.sleep(0.01)\n")
    body = "        raise SystemExit(3)\n" if crash else f"        return {{'answer': {answer!r}}}\n"
    (folder / "plugin.py").write_text(
        "import os, time\nfrom qualia.plugin_sdk import AnalyzerPlugin, serve\n\n"
        "class Versioned(AnalyzerPlugin):\n    def analyze(self, document, config, inputs):\n"
        + wait + body + "\nserve(Versioned)\n", encoding="utf-8")
    return folder


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_call_in_flight_finishes_on_the_old_version_while_new_calls_get_the_new(make_kernel, plugin_dir,
                                                                                         tmp_path):
    gate = tmp_path / "gate"
    versioned_plugin(plugin_dir, "live", "old", gate=gate)
    kernel = await make_kernel()
    in_flight = asyncio.create_task(kernel.run("live", DOC))
    await until(lambda: Path(str(gate) + ".started").exists())
    old_pid = kernel.plugin_status("live").processes[0].pid

    versioned_plugin(plugin_dir, "live", "new", version="1.1.0")  # code and manifest edited together
    reloading = asyncio.create_task(kernel.reload_plugins())
    await until(lambda: kernel.plugin_status("live") is None)  # the old supervisor takes no new calls
    assert kernel.registry.get("live").version == "1.1.0"

    assert (await kernel.run("live", DOC)).result == {"answer": "new"}  # a new process, the new manifest
    assert not in_flight.done() and not reloading.done()
    assert kernel.plugin_status("live").processes[0].pid != old_pid

    Path(str(gate) + ".release").touch()
    assert (await in_flight).result == {"answer": "old"}  # finished on the old version
    assert await reloading == ["live"]
    await until(lambda: not _alive(old_pid))


async def test_a_restart_after_a_manifest_edit_loads_manifest_and_code_together(make_kernel, plugin_dir):
    versioned_plugin(plugin_dir, "edited", "v1")
    kernel = await make_kernel()
    assert (await kernel.run("edited", DOC)).result == {"answer": "v1"}
    pid = kernel.plugin_status("edited").processes[0].pid

    versioned_plugin(plugin_dir, "edited", "v2", version="2.0.0")  # no reload asked for
    os.kill(pid, signal.SIGKILL)  # the process dies: the next call starts a new one
    await until(lambda: not kernel.plugin_status("edited").processes[0].alive)

    # Without the check, the new process would speak 2.0.0 to a kernel holding the 1.0.0 manifest. (With the
    # cache, this kernel would still answer v1's result: it serves what it loaded until a reload.)
    assert (await kernel.run("edited", DOC, use_cache=False)).result == {"answer": "v2"}
    assert kernel.registry.get("edited").version == "2.0.0"
    assert kernel.plugin_status("edited").breaker.total_failures == 0


async def test_a_code_edit_without_a_version_bump_is_never_answered_from_the_cache(make_kernel, plugin_dir):
    folder = versioned_plugin(plugin_dir, "cached", "before")
    kernel = await make_kernel()
    first = await kernel.execute("cached", DOC)
    assert first.output.result == {"answer": "before"} and not first.cached
    assert (await kernel.execute("cached", DOC)).cached

    code = folder / "plugin.py"
    code.write_text(code.read_text().replace("'before'", "'after'"), encoding="utf-8")
    assert await kernel.reload_plugins() == ["cached"]
    after = await kernel.execute("cached", DOC)
    assert after.output.result == {"answer": "after"} and not after.cached
    assert kernel.registry.get("cached").version == "1.0.0"


async def test_code_changed_under_the_same_manifest_is_adopted_when_the_process_restarts(make_kernel, plugin_dir):
    folder = versioned_plugin(plugin_dir, "adopted", "one")
    kernel = await make_kernel()
    assert (await kernel.execute("adopted", DOC)).output.result == {"answer": "one"}
    old_hash = kernel.registry.code_hash("adopted")
    code = folder / "plugin.py"
    code.write_text(code.read_text().replace("'one'", "'two'"), encoding="utf-8")
    # The running process still runs the old code, so the old hash (and its cache entry) still hold.
    assert (await kernel.execute("adopted", DOC)).cached
    os.kill(kernel.plugin_status("adopted").processes[0].pid, signal.SIGKILL)
    await until(lambda: not kernel.plugin_status("adopted").processes[0].alive)
    restarted = await kernel.execute("adopted", DOC, use_cache=False)
    assert restarted.output.result == {"answer": "two"}
    assert kernel.registry.code_hash("adopted") != old_hash
    assert (await kernel.execute("adopted", DOC)).output.result == {"answer": "two"}  # the new hash's entry


async def test_an_open_breaker_can_be_reset_by_hand(make_kernel, plugin_dir):
    versioned_plugin(plugin_dir, "broken", "", crash=True)
    kernel = await make_kernel(breaker_open_s=300.0)
    for _ in range(3):
        with pytest.raises(PluginCrashed):
            await kernel.run("broken", DOC)
    with pytest.raises(BreakerOpen):
        await kernel.run("broken", DOC)
    versioned_plugin(plugin_dir, "broken", "fixed")
    status = kernel.reset_breaker("broken")
    assert status is not None and status.breaker.state == "closed" and status.breaker.trips == 1
    assert (await kernel.run("broken", DOC)).result == {"answer": "fixed"}
    versioned_plugin(plugin_dir, "unused", "x")
    await kernel.reload_plugins()
    assert kernel.reset_breaker("unused") is None  # never started: nothing to reset


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
