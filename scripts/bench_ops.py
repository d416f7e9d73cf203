#!/usr/bin/env python3
"""What the operations layer costs: throughput with metrics, API keys and rate limits on versus off,
and with 20 dashboards connected to /monitor/stream versus none.

Drives the real server (`serve_main`, bundled plugins, a fresh QUALIA_HOME per
server) with scripts/bench_http.py's load generator (its raw keep-alive
client, in client processes), 16 clients by default, on two routes:
GET /plugins/word_frequency and a cached POST /analyze/word_frequency (5 KB
text). Each configuration runs in its own server, one after the other, for
`--rounds` rounds (the order alternates), and the median throughput is kept.

- off: no API keys, no rate limit, and the request-statistics middleware
  (the feed of /metrics and /monitor) taken out of the app;
- stats: the statistics middleware alone (no keys, no limit), to split the
  cost of `on` between metrics and the ops gates;
- on: statistics on, QUALIA_API_KEYS set (every request sends
  `Authorization: Bearer`), QUALIA_RATE_LIMIT high enough never to refuse.

Then, on the `on` server: the same load with 20 clients reading
/monitor/stream (aiohttp, in their own process) versus none.

Usage: scripts/bench_ops.py [--seconds 4] [--rounds 3] [--clients 16] [--procs 2] [--streams 20]
       [--json FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http  # noqa: E402  (the load generator and server helpers: reused, not copied)

ROOT = bench_http.ROOT
API_KEY = "bench-ops-key-6c1f0e9a2d7b4c3e8f5a"
HIGH_RATE = "1000000/s"

# `serve_main`, optionally with the request statistics middleware (metrics, dashboard) taken out.
SERVER_SCRIPT = """
import importlib, os, sys
from kernel import Settings
from kernel.server import serve_main
serve_module = importlib.import_module("kernel.server.serve")  # the module (the package exports a function `serve`)
if os.environ.get("BENCH_STATS_OFF") == "1":
    original = serve_module.create_app
    def create_app(*args, **kwargs):
        app = original(*args, **kwargs)
        stats = [m for m in app.middlewares if getattr(m, "__name__", "") == "request_stats_middleware"]
        assert len(stats) == 1, "no request statistics middleware found"
        app.middlewares.remove(stats[0])  # the app is not frozen yet
        return app
    serve_module.create_app = create_app
sys.exit(serve_main(Settings.from_env(), "127.0.0.1", int(sys.argv[1])))
"""

CONFIGS: dict[str, dict[str, str]] = {
    "off": {"BENCH_STATS_OFF": "1"},
    "stats": {},  # the request statistics (metrics, dashboard) alone: splits the cost of `on`
    "on": {"QUALIA_API_KEYS": API_KEY, "QUALIA_RATE_LIMIT": HIGH_RATE},
}


# ---- dashboards: clients of /monitor/stream ------------------------------------------

def _stream_process(port: int, clients: int, ready: Any, stop: Any, out: Any) -> None:
    async def main() -> dict[str, int]:
        import aiohttp

        received = {"bytes": 0, "events": 0, "connected": 0}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=clients)) as session:
            async def one() -> None:
                async with session.get("/monitor/stream", params={"key": API_KEY}) as response:
                    if response.status != 200:
                        raise SystemExit(f"/monitor/stream answered {response.status}")
                    received["connected"] += 1
                    async for line in response.content:
                        received["bytes"] += len(line)
                        if line.startswith(b"event:"):
                            received["events"] += 1

            tasks = [asyncio.ensure_future(one()) for _ in range(clients)]
            while received["connected"] < clients:
                await asyncio.sleep(0.05)
                for task in tasks:
                    if task.done() and task.exception():
                        raise task.exception()  # type: ignore[misc]
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return received

    out.put(asyncio.run(main()))


class Dashboards:
    def __init__(self, port: int, clients: int) -> None:
        self.ready, self.stop, self.out = mp.Event(), mp.Event(), mp.Queue()
        self.process = mp.Process(target=_stream_process, args=(port, clients, self.ready, self.stop, self.out))

    def __enter__(self) -> "Dashboards":
        self.process.start()
        if not self.ready.wait(30):
            self.process.kill()
            raise SystemExit("the dashboard clients did not connect within 30 s")
        time.sleep(1.5)  # let the producer run a couple of snapshots
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.received = self.out.get(timeout=30)
        self.process.join(30)


# ---- the measurements ----------------------------------------------------------------

def start(config: str, tmp: Path, n: int) -> tuple[subprocess.Popen[bytes], int]:
    port = bench_http.free_port()
    server = bench_http.start_server(tmp / f"home-{config}-{n}", port, False, tmp / f"server-{config}-{n}.log",
                                     extra_env=CONFIGS[config], script=SERVER_SCRIPT)
    return server, port


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def headers_of(config: str) -> dict[str, str] | None:
    return {"Authorization": f"Bearer {API_KEY}"} if config == "on" else None


def measure(port: int, config: str, scenarios: list[tuple[str, str, str, bytes | None]], args: argparse.Namespace,
            ) -> dict[str, dict[str, Any]]:
    results = {}
    for name, method, path, body in scenarios:
        status, data = bench_http.request_once(port, method, path, body, headers_of(config))
        if status != 200:
            raise SystemExit(f"{config}/{name}: warm-up answered {status}: {data[:300]!r}")
        results[name] = bench_http.run_load("raw", port, method, path, body, args.clients, args.procs, args.warmup,
                                            args.seconds, headers_of(config))
        if results[name]["errors"]:
            raise SystemExit(f"{config}/{name}: {results[name]['errors']} non-2xx answers (rate limited?)")
    return results


def line(label: str, result: dict[str, Any]) -> str:
    return (f"{label:42s} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
            f"non-2xx {result['errors']}")


def microbench() -> None:
    """The ops middlewares' own work per request, in process (no HTTP)."""
    sys.path.insert(0, str(ROOT))
    from ops.auth import ApiKeys
    from ops.ratelimit import TokenBuckets

    keys = ApiKeys([API_KEY, "another-key-1234567890"])
    buckets = TokenBuckets(rate=1e6, burst=1e6)
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        keys.match(API_KEY)
    match_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for i in range(n):
        buckets.take("key:0")
    take_us = (time.perf_counter() - started) / n * 1e6
    print(f"in process: ApiKeys.match (2 keys) {match_us:.2f} µs, TokenBuckets.take {take_us:.2f} µs per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3, help="servers per configuration (medians are kept)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--streams", type=int, default=20, help="dashboards connected to /monitor/stream")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_ops_") as tmp_name:
        tmp = Path(tmp_name)
        text5 = bench_http.corpus(tmp, 5)
        scenarios: list[tuple[str, str, str, bytes | None]] = [
            ("GET /plugins/word_frequency", "GET", "/plugins/word_frequency", None),
            ("POST /analyze/word_frequency (cached)", "POST", "/analyze/word_frequency",
             json.dumps({"text": text5}).encode()),
        ]
        print(f"{os.cpu_count()} cores; {args.clients} clients over {args.procs} client processes, "
              f"{args.seconds:g} s per run, {args.rounds} rounds; 5 KB text = {len(text5.encode())} bytes")
        microbench()
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {"off": {}, "stats": {}, "on": {}, "on+streams": {}}
        streams_received: list[dict[str, int]] = []
        for n in range(args.rounds):
            for config in (("off", "stats", "on") if n % 2 == 0 else ("on", "stats", "off")):
                server, port = start(config, tmp, n)
                try:
                    for name, result in measure(port, config, scenarios, args).items():
                        runs[config].setdefault(name, []).append(result)
                        print(line(f"[{n}] {config:5s} {name}", result), flush=True)
                    if config == "on" and args.streams:
                        with Dashboards(port, args.streams) as dashboards:
                            results = measure(port, config, scenarios, args)
                        streams_received.append(dashboards.received)
                        for name, result in results.items():
                            runs["on+streams"].setdefault(name, []).append(result)
                            print(line(f"[{n}] on + {args.streams} streams {name}", result), flush=True)
                finally:
                    stop(server)

        print()
        print(f"medians of {args.rounds} rounds, {args.clients} clients:")
        figures: dict[str, Any] = {"clients": args.clients, "rounds": args.rounds, "seconds": args.seconds,
                                   "cores": os.cpu_count(), "runs": runs, "summary": {}}
        for name, _, _, _ in scenarios:
            off = statistics.median(r["rps"] for r in runs["off"][name])
            stats = statistics.median(r["rps"] for r in runs["stats"][name])
            on = statistics.median(r["rps"] for r in runs["on"][name])
            summary = {"off_rps": off, "stats_rps": stats, "on_rps": on, "on_over_off": on / off,
                       "loss_pct": (1 - on / off) * 100, "keys_and_limits_loss_pct": (1 - on / stats) * 100,
                       "stats_loss_pct": (1 - stats / off) * 100}
            print(f"  {name:40s} off {off:9.1f} req/s   on {on:9.1f} req/s   on/off {on / off:6.3f}  "
                  f"(loss {summary['loss_pct']:+5.1f} %, target < 5 %)")
            print(f"  {'':40s} of which statistics alone {stats:9.1f} req/s (loss {summary['stats_loss_pct']:+5.1f} %),"
                  f" keys + rate limit on top (loss {summary['keys_and_limits_loss_pct']:+5.1f} %)")
            if runs["on+streams"].get(name):
                streams = statistics.median(r["rps"] for r in runs["on+streams"][name])
                summary.update(streams_rps=streams, streams_over_on=streams / on)
                print(f"  {'':40s} with {args.streams} /monitor/stream clients {streams:9.1f} req/s   "
                      f"vs none {streams / on:6.3f}  (loss {(1 - streams / on) * 100:+5.1f} %)")
            figures["summary"][name] = summary
        if streams_received:
            events = [r["events"] for r in streams_received]
            print(f"  dashboards received {events} SSE events in total per round (all {args.streams} clients)")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
