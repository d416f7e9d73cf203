"""A plugin's whole process group goes with it: no grandchild, zombie or descriptor outlives a
restart, a stop or a killed kernel, and a crash is noticed when the process exits, not when its
stdout closes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from qualia.kernel.errors import PluginCrashed
from qualia.plugin_sdk import Document
from tests.conftest import FIXTURES, PROJECT, problem_plugin, write_plugin
from tests.kernel.process_support import processes_in, sleepers_in, until, zombie_children

DOC = Document(text="texto")


async def kill_while_idle(kernel, plugin_id: str) -> None:
    pid = next(proc.pid for proc in kernel.plugin_status(plugin_id).processes if proc.alive)
    os.kill(pid, signal.SIGKILL)
    await until(lambda: not any(proc.pid == pid and proc.alive for proc in kernel.plugin_status(plugin_id).processes),
                what=f"the kernel to notice that pid {pid} died")


async def test_twenty_restarts_and_a_stop_leave_no_grandchild_and_no_zombie(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "forker", "forker")
    (folder / "mode").write_text("ok")
    zombies_before = zombie_children()
    kernel = await make_kernel(breaker_failures=100, restart_limit=100)
    await kernel.run("forker", DOC, use_cache=False)
    for _ in range(10):
        await kill_while_idle(kernel, "forker")
        await kernel.run("forker", DOC, use_cache=False)  # a restart after a kill while idle
        (folder / "mode").write_text("fail")
        with pytest.raises(PluginCrashed):
            await kernel.run("forker", DOC, use_cache=False)
        (folder / "mode").write_text("ok")
        await kernel.run("forker", DOC, use_cache=False)  # a restart after a crashing call
    assert kernel.plugin_status("forker").restarts == 20

    # Only the live plugin and its own three sleepers remain.
    await until(lambda: len(processes_in(folder)) == 4, what="the dead plugins' groups to be reaped")
    assert len(sleepers_in(folder)) == 3
    assert zombie_children() - zombies_before == set()

    await kernel.stop()  # the plugin answers shutdown and exits by itself; its sleepers must go too
    assert processes_in(folder) == []
    assert zombie_children() - zombies_before == set()


async def test_a_crash_held_open_by_a_grandchild_fails_the_call_at_once(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "bad", "crash_with_grandchild", timeout_s=10)
    kernel = await make_kernel()
    started = time.monotonic()
    with pytest.raises(PluginCrashed) as caught:
        await kernel.run("bad", DOC, use_cache=False)
    assert time.monotonic() - started < 5, "the call waited for the deadline"
    assert caught.value.status == 502 and "exited with code 3" in caught.value.message
    assert "crashed, leaving a child behind" in caught.value.details["stderr_tail"]
    await until(lambda: not processes_in(folder), what="the grandchild to be killed with its group")


async def test_an_answer_written_just_before_the_exit_still_arrives(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "brief", "answer_then_exit")
    kernel = await make_kernel()
    for text in ("one", "two", "three"):  # each call starts a process, which answers and dies
        assert (await kernel.run("brief", Document(text=text))).result == {"echo": text}
        await until(lambda: not any(proc.alive for proc in kernel.plugin_status("brief").processes),
                    what="the kernel to notice the exit")
    assert kernel.plugin_status("brief").breaker.total_failures == 0


def fast_forker(plugin_dir, plugin_id: str):
    """A plugin with one grandchild holding its pipes; no site-packages, so many restarts stay cheap."""
    folder = write_plugin(plugin_dir, plugin_id, ["{python}", "-S", str(FIXTURES / "problem_plugin.py"), "forker", "1"])
    (folder / "mode").write_text("ok")
    return folder


async def test_open_files_stay_flat_over_forty_restarts(make_kernel, plugin_dir):
    # scripts/soak_restarts.py does the same over 1,000 restarts.
    fast_forker(plugin_dir, "victim")
    kernel = await make_kernel(restart_limit=1000)
    await kernel.run("victim", DOC, use_cache=False)
    me = psutil.Process()
    for _ in range(5):  # warm up whatever the loop creates once (threads, selectors)
        await kill_while_idle(kernel, "victim")
        await kernel.run("victim", DOC, use_cache=False)
    before = me.num_fds()
    for _ in range(40):
        await kill_while_idle(kernel, "victim")
        await kernel.run("victim", DOC, use_cache=False)
    assert kernel.plugin_status("victim").restarts == 45
    assert me.num_fds() - before <= 2, f"{me.num_fds() - before} descriptors leaked over 40 restarts"


def run_host(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=PROJECT, timeout=60)


def test_no_transport_is_left_for_the_garbage_collector_at_exit(tmp_path, plugin_dir):
    fast_forker(plugin_dir, "victim")
    done = run_host(tmp_path, f"""
        import asyncio, os, signal
        from pathlib import Path
        from qualia.kernel import Kernel, Settings
        from qualia.plugin_sdk import Document

        async def main():
            settings = Settings(home=Path({str(tmp_path / 'home')!r}), plugin_path=[Path({str(plugin_dir)!r})],
                                use_entry_points=False)
            async with Kernel(settings) as kernel:
                for _ in range(5):
                    await kernel.run("victim", Document(text="x"), use_cache=False)
                    pid = next(p.pid for p in kernel.plugin_status("victim").processes if p.alive)
                    os.kill(pid, signal.SIGKILL)
                    while any(p.alive for p in kernel.plugin_status("victim").processes):
                        await asyncio.sleep(0.01)
            print("stopped", flush=True)

        asyncio.run(main())
    """)
    assert done.returncode == 0 and "stopped" in done.stdout, done.stderr
    assert "Exception ignored" not in done.stderr and "unclosed" not in done.stderr, done.stderr


KILLED_HOST = """
    import asyncio
    from pathlib import Path
    from qualia.kernel import Kernel, Settings

    async def main():
        settings = Settings(home=Path({home!r}), plugin_path=[Path({plugins!r})], use_entry_points=False)
        kernel = await Kernel(settings).start()
        status = await kernel.check("forker")
        print(status.processes[0].pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
"""


def start_host(tmp_path, fast_settings, plugin_dir) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "killed_host.py"
    script.write_text(textwrap.dedent(KILLED_HOST.format(home=str(fast_settings.home), plugins=str(plugin_dir))))
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=PROJECT)
    return host, int(host.stdout.readline())


async def test_the_next_kernel_reaps_what_a_killed_kernel_left(tmp_path, fast_settings, make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "forker", "forker")
    (folder / "mode").write_text("ok")
    host, plugin_pid = start_host(tmp_path, fast_settings, plugin_dir)
    try:
        await until(lambda: len(sleepers_in(folder)) == 3, what="the plugin's sleepers")
        # A second kernel on the same home while the first one lives: the first one's processes are not its own.
        neighbour = await make_kernel()
        assert len(sleepers_in(folder)) == 3 and psutil.pid_exists(plugin_pid)
        await neighbour.stop()

        host.kill()  # SIGKILL: the kernel runs no code; the plugin dies with it, its sleepers do not
        host.wait(10)
        await until(lambda: not psutil.pid_exists(plugin_pid) or psutil.Process(plugin_pid).status() == "zombie",
                    what="the plugin to die with its kernel")
        assert len(sleepers_in(folder)) == 3

        await make_kernel()  # the next kernel on this home
        await until(lambda: not sleepers_in(folder), what="the next kernel to reap the leftovers")
    finally:
        host.kill()
        host.wait()
        host.stdout.close()
        for proc in sleepers_in(folder):
            proc.kill()


def subreaper_flag() -> int:
    import ctypes

    value = ctypes.c_int(-1)
    ctypes.CDLL(None, use_errno=True).prctl(37, ctypes.byref(value), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return value.value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER is Linux's")
async def test_the_kernel_process_is_a_subreaper_only_while_a_kernel_runs(fast_settings):
    from qualia.kernel import Kernel

    assert subreaper_flag() == 0
    async with Kernel(fast_settings):
        assert subreaper_flag() == 1, "orphans of plugins must come back to the kernel"
    assert subreaper_flag() == 0
