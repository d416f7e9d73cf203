#!/usr/bin/env python3
"""HTTP throughput and latency of the REST front (`qualia serve`), end to end.

Starts the server as a subprocess (the real `serve_main`, bundled plugins,
a fresh QUALIA_HOME) and drives it from several client processes, each with
its own event loop and keep-alive connections. For each scenario and each
level of concurrency (1, 16, 64 clients) it prints requests/s and the p50 and
p99 latency, the server process's CPU time per request (which, unlike req/s,
hardly depends on what else runs on the machine), and counts non-2xx
answers (which should be 0).

Scenarios: GET /health; POST /analyze/word_frequency on a 5 KB text (cache
hit, and `"cache": false`); a 50 KB text uncached; the same 5 KB transcript
cleaned first, as the service does by default (`*_cleaned`); POST
/visualize/wordcloud_viz (PNG of the 5 KB text, uncached and cached). Texts
come from scripts/make_corpus.py (deterministic); all but `*_cleaned` send
`"raw": true`, so they measure the plugin alone.

The load generator must not be the bottleneck: the default client is a
minimal HTTP/1.1 keep-alive client on asyncio.Protocol (prebuilt request
bytes, Content-Length framing), several times cheaper per request than
aiohttp's client; `--client aiohttp` uses aiohttp's client instead, to compare.

Usage: scripts/bench_http.py [--seconds 4] [--procs 2] [--client raw|aiohttp]
       [--only health,analyze_hit] [--levels 1,16,64] [--access-log]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent

SERVER_SCRIPT = """
import sys
from qualia.kernel import Settings
from qualia.kernel.server import serve_main
sys.exit(serve_main(Settings.from_env(), "127.0.0.1", int(sys.argv[1])))
"""


# ---- the client -------------------------------------------------------------------

class _Conn(asyncio.Protocol):
    """One keep-alive connection; `request()` sends the prebuilt bytes and awaits the answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.need = -1
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            start = head.find(b"content-length:")
            if start < 0:
                raise RuntimeError("response without Content-Length")
            length = int(head[start + 15:head.find(b"\r\n", start) if head.find(b"\r\n", start) > 0 else None])
            self.need = end + 4 + length
        if len(self.buffer) >= self.need:
            del self.buffer[:self.need]
            self.need = -1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, payload: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(payload)
        return await self.waiter


def build_request(method: str, path: str, body: bytes | None, port: int,
                  headers: dict[str, str] | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench_http\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def _raw_worker(port: int, payload: bytes, connections: int, warmup: float, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(connections):
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", port)
        conns.append(conn)
    latencies: list[float] = []
    errors = 0
    sent_in_all = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def drive(conn: _Conn) -> None:
        nonlocal errors, sent_in_all
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            status = await conn.request(payload)
            sent_in_all += 1
            done = time.perf_counter()
            if sent >= measure_from:
                latencies.append(done - sent)
                if not 200 <= status < 300:
                    errors += 1

    await asyncio.gather(*(drive(conn) for conn in conns))
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    return {"latencies": latencies, "errors": errors, "all": sent_in_all}


async def _aiohttp_worker(port: int, method: str, path: str, body: bytes | None, connections: int, warmup: float,
                          seconds: float, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    sent_in_all = 0
    headers = {"Content-Type": "application/json"} if body is not None else {}
    headers.update(extra_headers or {})
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def drive() -> None:
            nonlocal errors, sent_in_all
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                async with session.request(method, path, data=body, headers=headers) as response:
                    await response.read()
                sent_in_all += 1
                done = time.perf_counter()
                if sent >= measure_from:
                    latencies.append(done - sent)
                    if not 200 <= response.status < 300:
                        errors += 1

        await asyncio.gather(*(drive() for _ in range(connections)))
    return {"latencies": latencies, "errors": errors, "all": sent_in_all}


def _client_process(args: tuple[Any, ...], queue: "mp.Queue[dict[str, Any]]") -> None:
    kind, port, method, path, body, connections, warmup, seconds, headers = args
    if kind == "aiohttp":
        result = asyncio.run(_aiohttp_worker(port, method, path, body, connections, warmup, seconds, headers))
    else:
        result = asyncio.run(_raw_worker(port, build_request(method, path, body, port, headers), connections, warmup,
                                         seconds))
    queue.put(result)


def run_load(kind: str, port: int, method: str, path: str, body: bytes | None, clients: int, procs: int,
             warmup: float, seconds: float, headers: dict[str, str] | None = None,
             server_pid: int | None = None) -> dict[str, Any]:
    """`clients` keep-alive connections over `procs` processes; `headers` go on every request (e.g. a key).

    With `server_pid`, also the server process's CPU time per request (user + system, every
    request of the run counted, warm-up included; plugin processes not included): unlike
    requests/s, it barely moves when other work shares the machine.
    """
    server = psutil.Process(server_pid) if server_pid is not None else None
    cpu_before = sum(server.cpu_times()[:2]) if server is not None else 0.0
    procs = max(1, min(procs, clients))
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    queue: mp.Queue[dict[str, Any]] = mp.Queue()
    workers = [mp.Process(target=_client_process, args=((kind, port, method, path, body, share, warmup, seconds,
                                                         headers), queue)) for share in shares]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=warmup + seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    cpu = sum(server.cpu_times()[:2]) - cpu_before if server is not None else float("nan")
    latencies = sorted(lat for result in results for lat in result["latencies"])
    errors = sum(result["errors"] for result in results)
    count = len(latencies)
    everything = sum(result["all"] for result in results)

    def pct(q: float) -> float:
        return latencies[min(count - 1, int(q * count))] * 1000 if count else float("nan")

    return {"requests": count, "rps": count / seconds, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errors,
            "mean_ms": statistics.fmean(latencies) * 1000 if count else float("nan"),
            "server_cpu_us": cpu / everything * 1e6 if everything else float("nan")}


# ---- the server ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, access_log: bool, log_path: Path, extra_env: dict[str, str] | None = None,
                 script: str = SERVER_SCRIPT) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUALIA_HOME": str(home), "PYTHONPATH": str(ROOT),
           "QUALIA_ACCESS_LOG": "1" if access_log else "0", "QUALIA_LOG_LEVEL": "INFO", **(extra_env or {})}
    log = log_path.open("wb")
    server = subprocess.Popen([sys.executable, "-c", script, str(port)], cwd=ROOT, env=env, stderr=log,
                              stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start within 30 s")


def request_once(port: int, method: str, path: str, body: bytes | None,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=body, headers={**({"Content-Type": "application/json"} if body else {}),
                                                   **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def corpus(tmp: Path, kb: int) -> str:
    out = tmp / f"corpus{kb}"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_corpus.py"), str(out), "--docs", "1", "--kb", str(kb),
                    "--format", "txt", "--lang", "en"], check=True)
    return next(out.glob("*.txt")).read_text(encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw")
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default here)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp_name:
        tmp = Path(tmp_name)
        text5, text50 = corpus(tmp, 5), corpus(tmp, 50)
        # The texts are `[hh:mm:ss] Name: text` transcripts, which the service cleans by default. The analyze
        # and visualize scenarios send "raw": true so they measure the analyzer alone, as they always have;
        # the *_cleaned scenarios measure the default (cleaner first, then the analyzer).
        analyze5 = json.dumps({"text": text5, "raw": True}).encode()
        scenarios: list[tuple[str, str, str, bytes | None]] = [
            ("health", "GET", "/health", None),
            ("analyze_5kb_cached", "POST", "/analyze/word_frequency", analyze5),
            ("analyze_5kb_uncached", "POST", "/analyze/word_frequency",
             json.dumps({"text": text5, "raw": True, "cache": False}).encode()),
            ("analyze_50kb_uncached", "POST", "/analyze/word_frequency",
             json.dumps({"text": text50, "raw": True, "cache": False}).encode()),
            ("analyze_5kb_cleaned_cached", "POST", "/analyze/word_frequency", json.dumps({"text": text5}).encode()),
            ("analyze_5kb_cleaned_uncached", "POST", "/analyze/word_frequency",
             json.dumps({"text": text5, "cache": False}).encode()),
            ("visualize_png_uncached", "POST", "/visualize/wordcloud_viz",
             json.dumps({"text": text5, "raw": True, "format": "png", "cache": False}).encode()),
            ("visualize_png_cached", "POST", "/visualize/wordcloud_viz",
             json.dumps({"text": text5, "raw": True, "format": "png"}).encode()),
        ]
        if args.only:
            wanted = set(args.only.split(","))
            scenarios = [s for s in scenarios if s[0] in wanted]
        port = free_port()
        log_path = tmp / "server.log"
        server = start_server(tmp / "home", port, args.access_log, log_path)
        print(f"server pid {server.pid} on 127.0.0.1:{port}; client={args.client}, {args.procs} client processes, "
              f"{args.seconds:g} s per run, {os.cpu_count()} cores; 5 KB text = {len(text5.encode())} bytes, "
              f"50 KB text = {len(text50.encode())} bytes")
        figures: list[dict[str, Any]] = []
        try:
            for name, method, path, body in scenarios:
                status, data = request_once(port, method, path, body)  # starts the plugin, fills the cache
                if status != 200:
                    raise SystemExit(f"{name}: warm-up answered {status}: {data[:300]!r}")
                for clients in levels:
                    result = run_load(args.client, port, method, path, body, clients, args.procs, args.warmup,
                                      args.seconds, server_pid=server.pid)
                    figures.append({"scenario": name, "clients": clients, **result})
                    print(f"{name:24s} c={clients:<3d} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:8.2f} ms  "
                          f"p99 {result['p99_ms']:8.2f} ms  server CPU {result['server_cpu_us']:7.1f} us/req  "
                          f"non-2xx {result['errors']}", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                code = server.wait()
            print(f"server exited with {code}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
