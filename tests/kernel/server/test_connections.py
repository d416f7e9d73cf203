"""The connection layer of the front, driven with raw sockets: malformed requests, slow or idle
clients, too many connections from one address, and clients that leave an event stream.

Every malformed request is answered in the one JSON error shape and logged as one WARNING line
without its bytes (an API key in it never reaches a log); a client that never finishes its
request headers or body is cut off after a bounded time; one address cannot hold more than its
share of connections; and a client closing a stream is normal, never an error in the log.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import types

import aiohttp
import pytest

from qualia.kernel.jobs import JobSettings
from qualia.kernel.server.stats import REQUEST_STATS
from tests.conftest import FIXTURES, PROJECT, problem_plugin, write_plugin

from ..jobs_support import wait_for

KEY = "qk_live_0b7e4d1c9a2f4e8b8c3d5f6a7b9c1d2e"

# Requests aiohttp's parser refuses, each carrying the key in an Authorization header.
MALFORMED = {
    "bare_lf": f"GET /plugins HTTP/1.1\nHost: x\nAuthorization: Bearer {KEY}\n\n".encode(),
    "over_long_header": b"GET /plugins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() * 300
                        + b"\r\n\r\n",
    "control_char_in_header": f"GET /plugins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\x01\r\n\r\n".encode(),
    "space_before_colon": f"GET /plugins HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer {KEY}\r\n\r\n".encode(),
}


async def raw_exchange(url: str, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data` on a new connection and read the answer until the server closes it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def formatted(records: list[logging.LogRecord]) -> str:
    """The records as a handler would write them, tracebacks included."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


# ---- malformed requests (issue 9, defect 6) ------------------------------------------------------

SERVE_SCRIPT = """
import sys
from qualia.kernel.settings import Settings
from qualia.kernel.server import serve_main
sys.exit(serve_main(Settings.from_env(use_entry_points=False), "127.0.0.1", 0))
"""


async def test_a_malformed_request_is_one_warning_line_without_its_bytes_and_a_json_400(tmp_path):
    """Through `serve_main` (its logging set up as in production) in a child process."""
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_API_KEYS": KEY, "QUALIA_LOG_LEVEL": "DEBUG",
           "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT], cwd=PROJECT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = await asyncio.to_thread(_listening_url, process)
        answers = {name: await raw_exchange(url, data) for name, data in MALFORMED.items()}
        async with aiohttp.ClientSession() as session:  # the server is still healthy
            async with session.get(f"{url}/plugins", headers={"Authorization": f"Bearer {KEY}"}) as response:
                assert response.status == 200
        process.terminate()
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    for name, raw in answers.items():
        status, headers, body = parse_answer(raw)
        assert status == 400, (name, raw)
        assert headers["content-type"].startswith("application/json"), (name, raw)
        assert headers.get("x-request-id"), name
        error = json.loads(body)["error"]
        assert error["code"] == "malformed_request" and set(error) == {"code", "message", "details"}, error
        assert KEY not in raw.decode("latin-1"), name
    assert KEY not in log and KEY[:12] not in log
    assert "Traceback" not in log and " ERROR " not in log, log
    warnings = [line for line in log.splitlines() if " WARNING " in line and "malformed HTTP request" in line]
    assert len(warnings) == len(MALFORMED), log


def _listening_url(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    for raw in process.stderr:
        match = re.search(r"listening on (http://\S+)", raw.decode())
        if match:
            return match.group(1)
    raise AssertionError("the server exited before listening")


async def test_the_warning_never_quotes_the_parsers_message():
    """Parser messages quote the request (the pure-Python parser's too): only fixed text reaches the log."""
    from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader, LineTooLong
    from aiohttp.http_parser import HttpRequestParser

    from qualia.kernel.server.protocol import describe_bad_request

    refused = []
    for data in MALFORMED.values():  # what aiohttp's parser raises for each
        parser = HttpRequestParser(types.SimpleNamespace(), asyncio.get_running_loop(), 2 ** 16)
        with pytest.raises(BadHttpMessage) as caught:
            parser.feed_data(data)
        refused.append(caught.value)
    python_parser = [BadStatusLine(f"GET / HTTP/1.1\nAuthorization: Bearer {KEY}"), InvalidHeader(f"Bearer {KEY}"),
                     LineTooLong(f"Bearer {KEY}", "8190", "9000"), BadHttpMessage(f"Bearer {KEY}"),
                     BadHttpMessage(f"Bearer {KEY}:\n\n  b'x'\n  ^")]
    for exc in refused + python_parser:
        assert KEY in str(exc)  # what aiohttp itself would have logged
        text = describe_bad_request(exc)
        assert KEY not in text and "Bearer" not in text, text
    assert describe_bad_request(refused[0]) == "the request line is malformed (Expected CRLF after version)"


# ---- slow and idle clients, one address's share (issue 9, defect 8) -------------------------------

async def open_raw(url: str, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    return reader, writer


async def test_half_sent_request_lines_are_cut_off_and_one_address_holds_a_bounded_share(serve):
    served = await serve(server={"header_timeout_s": 2.0, "max_connections_per_client": 50})
    loop = asyncio.get_running_loop()
    opened_at = loop.time()
    connections = await asyncio.gather(*(open_raw(served.url, b"GET /hea") for _ in range(200)))
    # All 200 must be open before the first admitted ones time out, or freed slots would admit late ones.
    assert loop.time() - opened_at < 2.0, "opening 200 connections took longer than the header timeout"
    try:
        # Every one of the 200 ends: 150 refused at once (503), the 50 admitted after the header timeout.
        answers = await asyncio.wait_for(asyncio.gather(*(reader.read() for reader, _ in connections)), 10)
    finally:
        for _, writer in connections:
            writer.close()
    refused = [parse_answer(raw) for raw in answers if raw]
    assert len(refused) == 150 and answers.count(b"") == 50
    for status, headers, body in refused:
        assert status == 503 and headers["retry-after"] and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "too_many_connections"
    # Their slots are free again: a full share of new connections is admitted and served.
    async with aiohttp.ClientSession(served.url, connector=aiohttp.TCPConnector(limit=50)) as client:
        async def health() -> int:
            async with client.get("/health") as response:
                return response.status
        assert await asyncio.gather(*(health() for _ in range(50))) == [200] * 50


async def test_refused_connections_are_closed_when_the_server_stops(serve):
    served = await serve(server={"max_connections_per_client": 1})
    connections = [await open_raw(served.url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(3)]
    first = await asyncio.wait_for(connections[0][0].readuntil(b"\r\n\r\n"), 5)
    assert first.startswith(b"HTTP/1.1 200")
    heads = [await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) for reader, _ in connections[1:]]
    assert all(head.startswith(b"HTTP/1.1 503") for head in heads)
    await served.stop()  # within the refused ones' linger time: they are closed too (warnings are errors here)
    for reader, writer in connections[1:]:
        assert b"too_many_connections" in await asyncio.wait_for(reader.read(), 5)  # the body, then the end
    for _, writer in connections:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(serve):
    served = await serve(server={"header_timeout_s": 0.3})
    reader, writer = await open_raw(served.url, b"")
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


async def test_a_slow_request_is_not_cut_off_once_its_headers_are_in(serve, plugin_dir):
    """The header timeout bounds reading the headers only: a plugin call may take longer."""
    write_plugin(plugin_dir, "sleepy", ["{python}", str(FIXTURES / "problem_plugin.py"), "slow", "0.8"])
    served = await serve(server={"header_timeout_s": 0.3})
    async with served.session.post("/analyze/sleepy", json={"text": "x"}) as response:
        assert response.status == 200, await response.text()
    # The same keep-alive connection serves a second request afterwards.
    async with served.session.get("/health") as response:
        assert response.status == 200


async def test_a_body_that_stops_arriving_is_408(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(server={"body_timeout_s": 0.4})
    head = (b"POST /analyze/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"text\": ")
    raw = await raw_exchange(served.url, head, timeout=5)
    status, headers, body = parse_answer(raw)
    assert status == 408 and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "QUALIA_BODY_TIMEOUT_S" in error["message"]


@pytest.mark.parametrize("path", ["/jobs", "/analyze/echo/file"])
async def test_a_multipart_upload_that_stops_arriving_is_408_and_queues_nothing(serve, plugin_dir, path):
    """Streamed forms (many files to a job, one file to a plugin) keep the same body deadline."""
    from .test_webhooks import configure

    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(server={"body_timeout_s": 0.4},
                         setup=configure(JobSettings(poll_s=0.1, lease_s=3.0, retention_days=0)))
    boundary = "qualiaBoundary"
    first_part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"plugin\"\r\n\r\necho\r\n"
                  f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                  f"Content-Type: text/plain\r\n\r\nthe first words of a file that never ends").encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(first_part) + 10_000}\r\n\r\n").encode()
    raw = await raw_exchange(served.url, head + first_part, timeout=5)
    status, headers, body = parse_answer(raw)
    assert status == 408 and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "QUALIA_BODY_TIMEOUT_S" in error["message"]
    async with served.session.get("/jobs") as response:
        assert (await response.json())["jobs"] == []


def test_connection_settings_from_the_environment():
    from qualia.kernel.server import ServerSettings

    settings = ServerSettings.from_env({"QUALIA_HEADER_TIMEOUT_S": "5", "QUALIA_BODY_TIMEOUT_S": "30",
                                        "QUALIA_KEEPALIVE_TIMEOUT_S": "20", "QUALIA_MAX_CONNECTIONS_PER_CLIENT": "0"})
    assert (settings.header_timeout_s, settings.body_timeout_s, settings.keepalive_timeout_s,
            settings.max_connections_per_client) == (5.0, 30.0, 20.0, 0)
    defaults = ServerSettings.from_env({})
    assert defaults.header_timeout_s > 0 and defaults.body_timeout_s > 0 and defaults.max_connections_per_client > 0
    for name in ("QUALIA_HEADER_TIMEOUT_S", "QUALIA_BODY_TIMEOUT_S", "QUALIA_KEEPALIVE_TIMEOUT_S"):
        with pytest.raises(ValueError, match=name):
            ServerSettings.from_env({name: "0"})
    with pytest.raises(ValueError, match="QUALIA_MAX_CONNECTIONS_PER_CLIENT"):
        ServerSettings.from_env({"QUALIA_MAX_CONNECTIONS_PER_CLIENT": "-1"})


# ---- clients leaving an event stream (issue 9, defect 7) ------------------------------------------

async def handled(served, count: int) -> None:
    """Wait until the server has finished `count` requests in all (the stats middleware's total)."""
    stats = served.app[REQUEST_STATS]
    await wait_for(lambda: stats.totals()[0] >= count, timeout=10)


async def test_clients_leaving_event_streams_log_nothing_above_debug(serve, plugin_dir, caplog):
    from .test_webhooks import configure

    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=configure(JobSettings(poll_s=0.1, lease_s=3.0, retention_days=0,
                                                     sse_heartbeat_s=0.1)))
    async with served.session.post("/jobs", json={"plugin": "echo", "documents": ["a", "b"]}) as response:
        job_id = (await response.json())["job_id"]
    async with served.session.get(f"/jobs/{job_id}/events") as response:  # read to its end: the job is done
        assert b"event: done" in await response.read()
    await handled(served, 2)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    request = f"GET /jobs/{job_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    monitor = b"GET /monitor/stream HTTP/1.1\r\nHost: x\r\n\r\n"

    for data in (request, monitor):  # a client that half-closes once it has sent its request
        reader, writer = await open_raw(served.url, data)
        writer.write_eof()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    reader, writer = await open_raw(served.url, monitor)  # a tab closed while the stream runs
    await asyncio.wait_for(reader.readuntil(b"event: history"), 10)
    writer.close()
    await handled(served, 5)

    loud = [record for record in caplog.records if record.levelno > logging.DEBUG]
    assert not loud, formatted(loud)
