"""Behaviour under stress: client disconnects, busy plugins, graceful shutdown of `serve_main`."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from qualia.kernel import Settings
from qualia.kernel.server import STATE, ServerSettings, create_app, start_server
from qualia.kernel.server.serve import tls_context
from qualia.kernel.server import serve as serve_until_signal
from tests.conftest import FIXTURES, PROJECT, live_children, problem_plugin, write_plugin

from .conftest import error_of, json_of


def slow_plugin(plugin_dir: Path, plugin_id: str, seconds: float, **kwargs: object) -> Path:
    return write_plugin(plugin_dir, plugin_id, ["{python}", str(FIXTURES / "problem_plugin.py"), "slow", str(seconds)],
                        **kwargs)


async def wait_until(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_client_disconnect_cancels_the_plugin_call(serve, plugin_dir):
    problem_plugin(plugin_dir, "hang", "hang", timeout_s=30)
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    kernel = served.kernel
    async with aiohttp.ClientSession(served.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            async with client.post("/analyze/hang", json={"text": "never"},
                                   timeout=aiohttp.ClientTimeout(total=0.5)):
                pass
    status = kernel.plugin_status("hang")
    assert status is not None and status.processes, "the call never reached the plugin"
    pid = status.processes[0].pid
    # The handler was cancelled: the plugin got $/cancel and, ignoring it, is killed after the grace period (0.3 s).
    started = time.monotonic()
    await wait_until(lambda: gone(pid), 3.0, "the abandoned plugin process to be killed")
    assert time.monotonic() - started < 2.0
    assert kernel.cache is not None and kernel.cache.stats().entries == 0  # no result was cached
    assert kernel.plugin_status("hang").breaker.total_failures == 0  # the caller left: not the plugin's fault
    assert kernel.plugin_status("hang").waiting == 0
    async with served.session.post("/analyze/echo", json={"text": "still serving"}) as r:
        assert (await json_of(r))["result"] == {"echo": "still serving"}


async def test_disconnect_while_slow_leaves_nothing_cached(serve, plugin_dir):
    slow_plugin(plugin_dir, "slow", 0.8)
    served = await serve()
    async with aiohttp.ClientSession(served.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            async with client.post("/analyze/slow", json={"text": "t"}, timeout=aiohttp.ClientTimeout(total=0.4)):
                pass
    await asyncio.sleep(1.0)  # past the moment the plugin would have answered
    assert served.kernel.cache.stats().entries == 0
    async with served.session.post("/analyze/slow", json={"text": "t"}) as r:
        body = await json_of(r)
    assert body["cached"] is False and served.kernel.plugin_status("slow").restarts == 1
    assert served.kernel.cache.stats().entries == 1


async def test_busy_plugin_queues_then_answers_503(serve, plugin_dir):
    slow_plugin(plugin_dir, "slow", 1.2, concurrency=1)
    served = await serve(queue_limit=1, queue_timeout_s=0.3)
    first = asyncio.ensure_future(served.session.post("/analyze/slow", json={"text": "first"}))
    await wait_until(lambda: (s := served.kernel.plugin_status("slow")) is not None and s.state == "running",
                     what="the first call to run")
    waiting = asyncio.ensure_future(served.session.post("/analyze/slow", json={"text": "second"}))
    await wait_until(lambda: served.kernel.plugin_status("slow").waiting == 1, what="a queued call")
    started = time.monotonic()
    async with served.session.post("/analyze/slow", json={"text": "third"}) as r:  # the queue is full
        error = await error_of(r, 503, "plugin_busy")
    assert time.monotonic() - started < 0.25 and "already waiting" in error["message"]
    assert r.headers["Retry-After"] == "1"
    async with await waiting as r:  # waited queue_timeout_s for a free process
        error = await error_of(r, 503, "plugin_busy")
    assert "no process free within 0.3 s" in error["message"] and r.headers["Retry-After"] == "1"
    async with await first as r:
        assert (await json_of(r))["result"] == {"echo": "first"}
    assert served.kernel.plugin_status("slow").breaker.total_failures == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVE_SCRIPT = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from qualia.kernel import Settings
    from qualia.kernel.server import serve_main
    settings = Settings(home=Path(sys.argv[1]), plugin_path=[Path(sys.argv[2])], use_entry_points=False,
                        cancel_grace_s=0.3, stop_grace_s=0.5)
    sys.exit(serve_main(settings, "127.0.0.1", int(sys.argv[3])))
    """)


def server_command(how: str, home: Path, plugin_dir: Path, port: int) -> list[str]:
    if how == "serve_main":
        return [sys.executable, "-c", SERVE_SCRIPT, str(home), str(plugin_dir), str(port)]
    return [sys.executable, "-m", "qualia.kernel.cli", "--home", str(home), "--plugin-path", str(plugin_dir), "serve",
            "--host", "127.0.0.1", "--port", str(port)]


@pytest.mark.parametrize(("how", "signum"), [("serve_main", signal.SIGTERM), ("qualia serve", signal.SIGINT)])
async def test_signal_finishes_in_flight_requests_and_exits_0(tmp_path, plugin_dir, how, signum):
    slow_plugin(plugin_dir, "slow", 1.0)
    problem_plugin(plugin_dir, "echo", "ok")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "QUALIA_SHUTDOWN_TIMEOUT_S": "10", "QUALIA_CANCEL_GRACE_S": "0.3"}
    server = await asyncio.create_subprocess_exec(*server_command(how, tmp_path / "home", plugin_dir, port),
                                                  stderr=asyncio.subprocess.PIPE, env=env, cwd=PROJECT)
    url = f"http://127.0.0.1:{port}"
    try:
        lines: list[str] = []
        while not any("listening on" in line for line in lines):
            line = await asyncio.wait_for(server.stderr.readline(), 20)
            assert line, f"the server exited early: {''.join(lines)}"
            lines.append(line.decode())
        async with aiohttp.ClientSession(url) as client:
            async with client.post("/analyze/echo", json={"text": "warm"}) as r:
                assert r.status == 200
            in_flight = asyncio.ensure_future(client.post("/analyze/slow", json={"text": "slow one"}))
            parent = psutil.Process(server.pid)
            await wait_until(lambda: len(parent.children()) == 2, what="both plugin processes")
            plugin_pids = [child.pid for child in parent.children(recursive=True)]
            await wait_until((plugin_dir / "slow" / "running").exists, what="the slow call inside the plugin")
            server.send_signal(signum)
            async with await in_flight as r:
                assert r.status == 200 and (await r.json())["result"] == {"echo": "slow one"}
        exit_code = await asyncio.wait_for(server.wait(), 15)
        log = "".join(lines) + (await server.stderr.read()).decode()
        assert exit_code == 0, log
        assert f"{signal.Signals(signum).name}: shutting down" in log and "kernel stopped" in log
        assert all(gone(pid) for pid in plugin_pids), "plugin processes outlived the server"
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession(url) as client, client.get("/health"):
                pass
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_shutdown_marks_stopping_and_lets_in_flight_requests_finish(serve, plugin_dir):
    slow_plugin(plugin_dir, "slow", 0.6)
    served = await serve()
    state = served.app[STATE]
    in_flight = asyncio.ensure_future(served.session.post("/analyze/slow", json={"text": "x"}))
    await wait_until(lambda: (s := served.kernel.plugin_status("slow")) is not None and s.state == "running",
                     what="the slow call")
    cleanup = asyncio.ensure_future(served.runner.cleanup())
    await wait_until(lambda: state.stopping, what="shutdown to begin")
    assert served.kernel.running  # the kernel waits for the in-flight request
    async with await in_flight as r:
        assert r.status == 200
    await cleanup
    assert not served.kernel.running


async def test_health_is_503_while_stopping(serve):
    served = await serve()
    served.app[STATE].stopping = True
    async with served.session.get("/health") as r:
        body = await json_of(r)
    assert r.status == 503 and body["status"] == "stopping"


async def test_serve_returns_1_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(home=tmp_path / "home", use_entry_points=False)
        assert await serve_until_signal(settings, "127.0.0.1", port) == 1
    assert not live_children()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_tls_with_cert_and_key(tmp_path, fast_settings):
    cert, key = self_signed(tmp_path)
    app = create_app(kernel_settings=fast_settings, settings=ServerSettings(access_log=False))
    runner, url = await start_server(app, "127.0.0.1", 0, ssl_context=tls_context(cert, key))
    try:
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(url) as client, client.get("/health", ssl=trust) as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
    finally:
        await runner.cleanup()
    with pytest.raises(ValueError, match="both a certificate"):
        tls_context(cert, None)
    with pytest.raises(ValueError, match="cannot load"):
        tls_context(key, cert)
