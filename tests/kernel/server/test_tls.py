"""HTTPS through the real `qualia serve --cert FILE --key FILE`, with a self-signed certificate made here."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys

import aiohttp
import pytest

from tests.conftest import PROJECT, problem_plugin

from .conftest import error_of, json_of
from .test_stress import free_port, self_signed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

API_KEY = "tls-test-key-0123456789"


async def test_qualia_serve_with_cert_and_key_serves_https(tmp_path, plugin_dir):
    cert, key = self_signed(tmp_path)
    problem_plugin(plugin_dir, "echo", "ok")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "QUALIA_API_KEYS": API_KEY}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qualia.kernel.cli", "--home", str(tmp_path / "home"), "--plugin-path", str(plugin_dir),
        "serve", "--host", "127.0.0.1", "--port", str(port), "--cert", str(cert), "--key", str(key),
        stderr=asyncio.subprocess.PIPE, env=env, cwd=PROJECT)
    url = f"https://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        while not any("listening on" in line for line in lines):
            line = await asyncio.wait_for(server.stderr.readline(), 20)
            assert line, f"the server exited early: {''.join(lines)}"
            lines.append(line.decode())
        assert f"listening on {url}" in "".join(lines)
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(url) as client:
            async with client.get("/health", ssl=trust) as r:
                assert (await json_of(r))["status"] == "ok"
            async with client.get("/plugins", ssl=trust) as r:
                await error_of(r, 401, "unauthorized")
            async with client.post("/analyze/echo", json={"text": "over tls"}, ssl=trust,
                                   headers={"Authorization": f"Bearer {API_KEY}"}) as r:
                assert (await json_of(r))["result"] == {"echo": "over tls"}
            with pytest.raises(aiohttp.ClientConnectorCertificateError):  # not trusted without the certificate
                async with client.get("/health"):
                    pass
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as plain:  # plain HTTP is not served
            with pytest.raises(aiohttp.ClientError):
                async with plain.get("/health") as r:
                    await r.read()
        server.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(server.wait(), 15) == 0
        log = "".join(lines) + (await server.stderr.read()).decode()
        assert API_KEY not in log
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


def test_qualia_serve_needs_both_cert_and_key(tmp_path):
    cert, key = self_signed(tmp_path)
    base = [sys.executable, "-m", "qualia.kernel.cli", "--home", str(tmp_path / "home"), "serve", "--port", "0"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([*base, "--cert", str(cert)], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "both a certificate (--cert) and its private key (--key)" in done.stderr
    done = subprocess.run([*base, "--cert", str(key), "--key", str(cert)], env=env, cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot load the TLS certificate" in done.stderr
