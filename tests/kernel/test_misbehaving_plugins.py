"""A misbehaving plugin is contained: the kernel survives, the caller gets a clear
error naming the plugin and the cause, a healthy plugin still answers, and the
breaker counts exactly the plugin's faults."""
from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from qualia.kernel.errors import (InvalidInput, PluginCrashed, PluginFault, PluginProtocolError, PluginStartFailed,
                           PluginTimeout)
from qualia.plugin_sdk import Document
from tests.conftest import FIXTURES, problem_plugin, write_plugin
from tests.kernel.process_support import until

DOC = Document(id="d1", text="Não gostei do código, mas a ação foi boa.")


async def assert_healthy_still_answers(kernel) -> None:
    outcome = await kernel.run("healthy", DOC)
    assert outcome.result == {"echo": DOC.text}


@pytest.mark.parametrize(("behaviour", "error", "cause"), [
    ("crash_on_call", PluginCrashed, "exited with code 3"),
    ("crash_at_start", PluginStartFailed, "cannot load the model file"),
    ("exit_before_handshake", PluginStartFailed, "exited with code 0"),
    ("hang_at_start", PluginStartFailed, "did not answer within"),
    ("wrong_version", PluginStartFailed, "version '0.0.0-wrong' != manifest '1.0.0'"),
    ("garbage", PluginProtocolError, "this is not json"),
    ("internal_error", PluginFault, "database locked"),
])
async def test_plugin_fault_is_contained_and_counted(make_kernel, plugin_dir, behaviour, error, cause):
    problem_plugin(plugin_dir, "bad", behaviour)
    problem_plugin(plugin_dir, "healthy", "ok")
    kernel = await make_kernel(start_timeout_s=1.0)

    with pytest.raises(error) as caught:
        await kernel.run("bad", DOC)

    assert "'bad'" in caught.value.message and cause in caught.value.message
    assert caught.value.details["plugin"] == "bad"
    assert kernel.plugin_status("bad").breaker.total_failures == 1
    await assert_healthy_still_answers(kernel)
    assert kernel.plugin_status("healthy").breaker.total_failures == 0


async def test_crash_keeps_stderr_tail_in_error(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "bad", "crash_on_call")
    kernel = await make_kernel()
    with pytest.raises(PluginCrashed) as caught:
        await kernel.run("bad", DOC)
    assert "segfault-like crash in native code" in caught.value.details["stderr_tail"]
    assert caught.value.details["exit_code"] == 3


async def test_hang_hits_deadline_then_cancel_then_kill(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "bad", "hang", timeout_s=0.5)
    problem_plugin(plugin_dir, "healthy", "ok")
    kernel = await make_kernel()
    await kernel.check("bad")
    pid = kernel.plugin_status("bad").processes[0].pid

    started = time.monotonic()
    with pytest.raises(PluginTimeout) as caught:
        await kernel.run("bad", DOC)
    assert 0.45 < time.monotonic() - started < 2.0
    assert caught.value.status == 504 and "did not answer within 0.5 s" in caught.value.message

    # After the cancel grace period (0.3 s) the hung process is gone.
    await until(lambda: not psutil.pid_exists(pid), timeout=3, what="the hung plugin to be killed and reaped")
    assert kernel.plugin_status("bad").breaker.total_failures == 1
    await assert_healthy_still_answers(kernel)


async def test_caller_fault_is_422_and_not_counted(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "picky", "invalid_params")
    kernel = await make_kernel()
    for _ in range(5):  # more than the breaker threshold (3)
        with pytest.raises(InvalidInput) as caught:
            await kernel.run("picky", DOC)
        assert caught.value.status == 422 and "text is empty" in caught.value.message
        assert caught.value.details["key"] == "text"
    status = kernel.plugin_status("picky")
    assert status.breaker.state == "closed" and status.breaker.total_failures == 0
    assert status.restarts == 0  # the process was never replaced


async def test_ten_mib_of_stderr_does_not_deadlock(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "chatty", "stderr_flood")
    kernel = await make_kernel()
    outcome = await asyncio.wait_for(kernel.run("chatty", DOC), 20)
    assert outcome.result == {"echo": DOC.text}
    status = kernel.plugin_status("chatty")
    assert status.breaker.total_failures == 0
    assert status.stderr_tail and set(status.stderr_tail[-1]) == {"x"}


async def test_twenty_mib_result_arrives_whole(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "big", "big_result")
    kernel = await make_kernel()
    outcome = await kernel.run("big", DOC)
    assert len(outcome.result["blob"]) == 20 * 1024 * 1024
    assert kernel.plugin_status("big").breaker.total_failures == 0


async def test_twenty_mib_document_reaches_the_plugin(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "healthy", "ok")
    kernel = await make_kernel()
    text = "ação " * (4 * 1024 * 1024)
    outcome = await kernel.run("healthy", Document(text=text))
    assert outcome.result["echo"] == text


async def test_stray_print_through_sdk_does_not_corrupt_stdout(make_kernel, plugin_dir):
    write_plugin(plugin_dir, "chatty_sdk", ["{python}", str(FIXTURES / "sdk_print_plugin.py")])
    kernel = await make_kernel()
    outcome = await kernel.run("chatty_sdk", DOC)
    assert outcome.result == {"echo": DOC.text}
    status = kernel.plugin_status("chatty_sdk")
    assert status.breaker.total_failures == 0
    assert any("debug: analysing d1" in line for line in status.stderr_tail)
    assert any("C-level write to fd 1" in line for line in status.stderr_tail)


async def test_crashed_plugin_restarts_on_next_call(make_kernel, plugin_dir):
    folder = problem_plugin(plugin_dir, "flaky", "toggle")
    (folder / "mode").write_text("fail")
    kernel = await make_kernel()
    with pytest.raises(PluginCrashed):
        await kernel.run("flaky", DOC)
    (folder / "mode").write_text("ok")
    assert (await kernel.run("flaky", DOC)).result == {"echo": DOC.text}
    status = kernel.plugin_status("flaky")
    assert status.restarts == 1 and status.breaker.consecutive_failures == 0


async def test_concurrency_two_serves_two_calls_at_once(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "pair", "ok", concurrency=2)
    kernel = await make_kernel()
    results = await asyncio.gather(*(kernel.run("pair", Document(text=str(i))) for i in range(10)))
    assert [r.result["echo"] for r in results] == [str(i) for i in range(10)]
    assert len(kernel.plugin_status("pair").processes) == 2


async def test_sdk_plugin_notices_cancel_and_stops_early(make_kernel, plugin_dir):
    folder = write_plugin(plugin_dir, "slow", ["{python}", str(FIXTURES / "slow_sdk_plugin.py")], timeout_s=0.3)
    kernel = await make_kernel(cancel_grace_s=3.0)
    seen = []
    with pytest.raises(PluginTimeout):
        await kernel.run("slow", Document(id="doc-7", text="x"), progress=seen.append)
    assert seen and seen[-1].total == 600  # progress reached the caller while it ran
    # Well inside the 3 s grace: the plugin stopped by itself.
    await until(lambda: (folder / "cancelled").exists(), timeout=2, what="the plugin to notice $/cancel")
    assert (folder / "cancelled").read_text() == "doc-7"
