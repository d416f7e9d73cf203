"""Starting and stopping leaves nothing behind: no zombies, no orphans."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from qualia.kernel import Kernel
from qualia.plugin_sdk import Document
from qualia.kernel.errors import KernelStopped
from tests.conftest import PROJECT, live_children, problem_plugin
from tests.kernel.process_support import processes_in, until


async def test_stop_leaves_no_child_processes(fast_settings, plugin_dir):
    problem_plugin(plugin_dir, "pair", "ok", concurrency=2)
    problem_plugin(plugin_dir, "stubborn", "stubborn")
    before = {child.pid for child in live_children()}
    kernel = await Kernel(fast_settings).start()
    await kernel.check("pair")
    await kernel.run("pair", Document(text="a"))
    await kernel.check("stubborn")
    assert len(live_children()) >= len(before) + 2

    started = time.monotonic()
    await kernel.stop()
    assert [child for child in live_children() if child.pid not in before] == []
    # stubborn: shutdown unanswered (0.5 s), SIGTERM ignored (0.5 s), then SIGKILL
    assert time.monotonic() - started < 3


def test_plugins_die_when_the_kernel_is_killed(tmp_path, plugin_dir):
    problem_plugin(plugin_dir, "healthy", "ok")
    script = tmp_path / "kernel_host.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from qualia.kernel import Kernel, Settings

        async def main():
            settings = Settings(home=Path({str(tmp_path / 'home')!r}), plugin_path=[Path({str(plugin_dir)!r})],
                                use_entry_points=False)
            kernel = await Kernel(settings).start()
            status = await kernel.check("healthy")
            print(status.processes[0].pid, flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
    """))
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    try:
        plugin_pid = int(host.stdout.readline())
        assert psutil.pid_exists(plugin_pid)
        host.send_signal(signal.SIGKILL)
        host.wait(5)
        deadline = time.monotonic() + 5
        while psutil.pid_exists(plugin_pid):
            assert time.monotonic() < deadline, "plugin outlived its kernel"
            time.sleep(0.05)
    finally:
        host.kill()
        host.wait()
        host.stdout.close()


async def test_reload_picks_up_a_changed_manifest_without_a_restart(make_kernel, plugin_dir):
    from tests.conftest import FIXTURES, write_plugin

    folder = write_plugin(plugin_dir, "chatty", ["{python}", str(FIXTURES / "sdk_print_plugin.py")])
    write_plugin(plugin_dir, "steady", ["{python}", str(FIXTURES / "problem_plugin.py"), "ok"])
    kernel = await make_kernel()
    await kernel.run("chatty", Document(text="a"))
    await kernel.run("steady", Document(text="a"))
    old_pid = kernel.plugin_status("chatty").processes[0].pid
    steady_pid = kernel.plugin_status("steady").processes[0].pid

    manifest = folder / "plugin.toml"
    manifest.write_text(manifest.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    assert await kernel.reload_plugins() == ["chatty"]

    assert kernel.registry.get("chatty").version == "1.1.0"
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    assert (await kernel.run("chatty", Document(text="b"))).result == {"echo": "b"}  # handshake says 1.1.0
    assert kernel.plugin_status("steady").processes[0].pid == steady_pid  # untouched


async def test_preloaded_plugins_start_with_the_kernel_and_broken_ones_do_not_stop_it(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "healthy", "ok")
    problem_plugin(plugin_dir, "broken", "crash_at_start")
    problem_plugin(plugin_dir, "lazy", "ok")
    kernel = await make_kernel(preload=["healthy", "broken", "missing"])
    await until(lambda: kernel.plugin_status("healthy") and kernel.plugin_status("healthy").processes
                and kernel.plugin_status("broken") and kernel.plugin_status("broken").breaker.total_failures,
                what="the preloads to finish")
    assert kernel.plugin_status("healthy").processes[0].alive
    assert kernel.plugin_status("broken").breaker.total_failures == 1
    assert kernel.plugin_status("lazy") is None  # not named: not started
    assert (await kernel.run("healthy", Document(text="x"))).result == {"echo": "x"}


async def test_a_call_queued_behind_a_busy_plugin_during_stop_fails_and_starts_nothing(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "slow", "slow")  # answers after 1 s
    kernel = await make_kernel()
    await kernel.check("slow")
    busy = asyncio.create_task(kernel.run("slow", Document(text="first"), use_cache=False))
    await until(lambda: kernel.plugin_status("slow").state == "running", what="the first call to be in the plugin")
    queued = asyncio.create_task(kernel.run("slow", Document(text="second"), use_cache=False))
    await until(lambda: kernel.plugin_status("slow").waiting == 1, what="the second call to wait for the plugin")

    await kernel.stop()

    for call in (busy, queued):  # cut off by the stop: not the plugin's fault
        with pytest.raises(KernelStopped):
            await call
    assert processes_in(folder) == [], "a plugin process started after the kernel stopped"
    assert kernel.plugin_status("slow").breaker.total_failures == 0
