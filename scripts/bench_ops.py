#!/usr/bin/env python3
"""What the operations layer costs: throughput with metrics, API keys and rate limits on versus off,
and with 20 dashboards connected to /monitor/stream versus none.

Drives real servers (`serve_main`, bundled plugins, a fresh QUALIA_HOME each)
with scripts/bench_http.py's load generator (its raw keep-alive client, in
client processes), 16 clients by default, on two routes: GET
/plugins/word_frequency and a cached POST /analyze/word_frequency (5 KB text).

Each round starts one fresh server per configuration (all at once, idle but
for the one under load; the same PYTHONHASHSEED) and runs every route on each
in turn, the order rotating from round to round: a machine whose speed drifts
(other jobs, a shared VM) slows every configuration alike, and no
configuration keeps a lucky or unlucky process for the whole benchmark.
Medians (and minima) over the rounds are reported, with the server's CPU
time per request, which is steadier than req/s on a busy machine.

- off: no API keys, no rate limit, and the request-statistics middleware
  (the feed of /metrics and /monitor) taken out of the app;
- stats: the statistics middleware alone (no keys, no limit), to split the
  cost of `on` between metrics and the ops gates;
- on: statistics on, QUALIA_API_KEYS set (every request sends
  `Authorization: Bearer`), QUALIA_RATE_LIMIT high enough never to refuse;
- on+streams: like `on`, with 20 clients reading /monitor/stream throughout.

On a shared or small machine (a 2-core VM) the load runs swing by 20 % and
more from run to run, so two steadier figures are printed as well:

- in process: the same three apps (off, stats, on) in this process, driven by
  bench_http's raw client on the same event loop, in batches that go round
  the apps; the fastest batch of each app is its cost per request (the
  minimum filters out the moments the machine was busy elsewhere);
- dashboards: the server's CPU time per second while idle, with 20 clients
  on /monitor/stream versus none: what the stream takes from the request
  capacity.

Usage: scripts/bench_ops.py [--seconds 2] [--rounds 4] [--clients 16] [--procs 2] [--streams 20]
       [--batches 40] [--json FILE]
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
from qualia.kernel import Settings
from qualia.kernel.server import serve_main
serve_module = importlib.import_module("qualia.kernel.server.serve")  # the module (the package exports a function `serve`)
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

OPS_ON = {"QUALIA_API_KEYS": API_KEY, "QUALIA_RATE_LIMIT": HIGH_RATE}
CONFIGS: dict[str, dict[str, str]] = {
    "off": {"BENCH_STATS_OFF": "1"},
    "stats": {},
    "on": OPS_ON,
    "on+streams": OPS_ON,
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
    """`clients` EventSource-like readers of /monitor/stream, in their own process."""

    def __init__(self, port: int, clients: int) -> None:
        self.ready, self.stop, self.out = mp.Event(), mp.Event(), mp.Queue()
        self.process = mp.Process(target=_stream_process, args=(port, clients, self.ready, self.stop, self.out))
        self.received: dict[str, int] = {}

    def start(self) -> None:
        self.process.start()
        if not self.ready.wait(30):
            self.process.kill()
            raise SystemExit("the dashboard clients did not connect within 30 s")

    def close(self) -> None:
        self.stop.set()
        self.received = self.out.get(timeout=30)
        self.process.join(30)


# ---- servers and measurements -----------------------------------------------------------

class Server:
    def __init__(self, config: str, tmp: Path, round_: int) -> None:
        self.config = config
        self.port = bench_http.free_port()
        self.process = bench_http.start_server(tmp / f"home-{config}-{round_}", self.port, False,
                                               tmp / f"server-{config}-{round_}.log", script=SERVER_SCRIPT,
                                               extra_env={**CONFIGS[config], "PYTHONHASHSEED": "0"})
        self.headers = {"Authorization": f"Bearer {API_KEY}"} if config.startswith("on") else None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (its plugins are other processes)."""
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def warm(self, scenarios: list[tuple[str, str, str, bytes | None]]) -> None:
        for name, method, path, body in scenarios:  # starts the plugin, fills the cache
            status, data = bench_http.request_once(self.port, method, path, body, self.headers)
            if status != 200:
                raise SystemExit(f"{self.config}/{name}: warm-up answered {status}: {data[:300]!r}")

    def load(self, method: str, path: str, body: bytes | None, args: argparse.Namespace) -> dict[str, Any]:
        before = self.cpu_seconds()
        result = bench_http.run_load("raw", self.port, method, path, body, args.clients, args.procs, args.warmup,
                                     args.seconds, self.headers)
        served = result["requests"] * (args.warmup + args.seconds) / args.seconds  # the warm-up ran too
        result["cpu_us"] = (self.cpu_seconds() - before) / max(1.0, served) * 1e6
        if result["errors"]:
            raise SystemExit(f"{self.config} {path}: {result['errors']} non-2xx answers (rate limited?)")
        return result

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def microbench() -> str:
    """The ops gates' own work per request, in process (no HTTP)."""
    sys.path.insert(0, str(ROOT))
    from qualia.ops.auth import ApiKeys
    from qualia.ops.ratelimit import TokenBuckets

    keys = ApiKeys([API_KEY, "another-key-1234567890"])
    buckets = TokenBuckets(rate=1e6, burst=1e6)
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        keys.match(API_KEY)
    match_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for _ in range(n):
        buckets.take("key:0")
    take_us = (time.perf_counter() - started) / n * 1e6
    return f"in process: ApiKeys.match (2 keys) {match_us:.2f} µs, TokenBuckets.take {take_us:.2f} µs per request"


# ---- in process: the cost per request, on one event loop --------------------------------

async def _inprocess(tmp: Path, scenarios: list[tuple[str, str, str, bytes | None]], clients: int, batches: int,
                     per_batch: int) -> dict[str, dict[str, list[float]]]:
    sys.path.insert(0, str(ROOT))
    from qualia.kernel import Kernel, Settings
    from qualia.kernel.server import ServerSettings, create_app, start_server

    loop = asyncio.get_running_loop()
    configs = ["off", "stats", "on"]
    apps: dict[str, tuple[Any, int, list[bench_http._Conn], dict[str, str] | None]] = {}
    saved = {name: os.environ.pop(name, None) for name in OPS_ON}
    try:
        for config in configs:
            os.environ.update({k: v for k, v in CONFIGS[config].items() if k.startswith("QUALIA_")})
            kernel = Kernel(Settings(home=tmp / f"inprocess-{config}", use_entry_points=False))
            app = create_app(kernel, settings=ServerSettings(access_log=False))
            for name in OPS_ON:
                os.environ.pop(name, None)
            if config == "off":
                app.middlewares.remove(next(m for m in app.middlewares
                                            if getattr(m, "__name__", "") == "request_stats_middleware"))
            runner, url = await start_server(app, "127.0.0.1", 0)
            port = int(url.rsplit(":", 1)[1])
            conns = [(await loop.create_connection(bench_http._Conn, "127.0.0.1", port))[1] for _ in range(clients)]
            headers = {"Authorization": f"Bearer {API_KEY}"} if config == "on" else None
            apps[config] = (runner, port, conns, headers)
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value

    async def batch(conns: list[bench_http._Conn], payload: bytes) -> float:
        each = per_batch // len(conns)

        async def drive(conn: bench_http._Conn) -> None:
            for _ in range(each):
                if not 200 <= await conn.request(payload) < 300:
                    raise SystemExit("a non-2xx answer in the in-process benchmark")

        started = time.perf_counter()
        await asyncio.gather(*(drive(conn) for conn in conns))
        return (time.perf_counter() - started) / (each * len(conns)) * 1e6

    costs = {config: {name: [] for name, *_ in scenarios} for config in configs}
    try:
        payloads = {config: {name: bench_http.build_request(method, path, body, port, headers)
                             for name, method, path, body in scenarios}
                    for config, (_, port, _, headers) in apps.items()}
        for config, (_, _, conns, _) in apps.items():  # start the plugin, fill the cache, warm up
            for name in payloads[config]:
                await batch(conns, payloads[config][name])
        for n in range(batches):
            order = configs[n % len(configs):] + configs[:n % len(configs)]
            for name, *_ in scenarios:
                for config in order:
                    costs[config][name].append(await batch(apps[config][2], payloads[config][name]))
    finally:
        for runner, _, conns, _ in apps.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
            await runner.cleanup()
    return costs


def inprocess(tmp: Path, scenarios: list[tuple[str, str, str, bytes | None]], args: argparse.Namespace,
              figures: dict[str, Any]) -> None:
    costs = asyncio.run(_inprocess(tmp, scenarios, args.clients, args.batches, 1600))
    print(f"in process ({args.batches} batches of 1600 requests over {args.clients} connections per app and route; "
          f"client and server on one event loop, so the figures include the client's share):")
    figures["inprocess"] = {}
    for name, *_ in scenarios:
        best = {config: min(values[name]) for config, values in costs.items()}
        median = {config: statistics.median(values[name]) for config, values in costs.items()}
        figures["inprocess"][name] = {"best_us": best, "median_us": median}
        print(f"  {name:40s} µs per request, fastest batch: off {best['off']:.1f}, stats {best['stats']:.1f}, "
              f"on {best['on']:.1f}  ->  on vs off: throughput {pct(best['off'], best['on'])} "
              f"(metrics {best['stats'] - best['off']:+.1f} µs, keys + limit {best['on'] - best['stats']:+.1f} µs);"
              f" medians {median['off']:.1f} / {median['stats']:.1f} / {median['on']:.1f}", flush=True)


def idle_cpu(server: "Server", seconds: float) -> float:
    """Milliseconds of CPU per second the server takes while no request comes."""
    before = server.cpu_seconds()
    time.sleep(seconds)
    return (server.cpu_seconds() - before) / seconds * 1000


def pct(new: float, base: float) -> str:
    return f"{(new / base - 1) * 100:+5.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=4, help="runs per configuration and route (medians are kept)")
    parser.add_argument("--batches", type=int, default=40, help="in-process batches per app and route (0: skip)")
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
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.clients} clients over "
              f"{args.procs} client processes, {args.seconds:g} s per run, {args.rounds} rounds; "
              f"5 KB text = {len(text5.encode())} bytes")
        print(microbench())
        figures: dict[str, Any] = {"clients": args.clients, "rounds": args.rounds, "seconds": args.seconds,
                                   "cores": os.cpu_count(), "summary": {}}
        if args.batches:
            inprocess(tmp, scenarios, args, figures)
        configs = list(CONFIGS) if args.streams else [c for c in CONFIGS if c != "on+streams"]
        idle: dict[str, list[float]] = {"on": [], "on+streams": []}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {config: {name: [] for name, *_ in scenarios}
                                                             for config in configs}
        events = 0
        for n in range(args.rounds):
            servers = {config: Server(config, tmp, n) for config in configs}
            dashboards: Dashboards | None = None
            try:
                for server in servers.values():
                    server.warm(scenarios)
                if args.streams:
                    dashboards = Dashboards(servers["on+streams"].port, args.streams)
                    dashboards.start()
                    time.sleep(1.5)  # the producer is running: a couple of snapshots went out
                    for config in ("on", "on+streams"):
                        idle[config].append(idle_cpu(servers[config], 3.0))
                order = configs[n % len(configs):] + configs[:n % len(configs)]
                for name, method, path, body in scenarios:
                    for config in order:
                        result = servers[config].load(method, path, body, args)
                        runs[config][name].append(result)
                        print(f"[{n}] {config:10s} {name:38s} {result['rps']:9.1f} req/s  "
                              f"server CPU {result['cpu_us']:6.1f} µs/req  p50 {result['p50_ms']:6.2f} ms  "
                              f"p99 {result['p99_ms']:6.2f} ms", flush=True)
            finally:
                if dashboards is not None:
                    dashboards.close()
                    events += dashboards.received.get("events", 0)
                for server in servers.values():
                    server.stop()

        print()
        print(f"medians of {args.rounds} runs per configuration, {args.clients} clients "
              f"(load average now {os.getloadavg()[0]:.2f}):")
        figures["runs"] = runs
        for name, *_ in scenarios:
            rps = {config: statistics.median(r["rps"] for r in runs[config][name]) for config in configs}
            cpu = {config: statistics.median(r["cpu_us"] for r in runs[config][name]) for config in configs}
            best = {config: max(r["rps"] for r in runs[config][name]) for config in configs}
            least = {config: min(r["cpu_us"] for r in runs[config][name]) for config in configs}
            figures["summary"][name] = {"rps": rps, "cpu_us": cpu, "best_rps": best, "least_cpu_us": least,
                                        "on_over_off": rps["on"] / rps["off"]}
            print(f"  {name}")
            for config in configs:
                print(f"    {config:10s} {rps[config]:9.1f} req/s (best {best[config]:9.1f})  server CPU "
                      f"{cpu[config]:6.1f} µs/req (least {least[config]:6.1f})")
            print(f"    on vs off (metrics + API keys + rate limit): throughput {pct(rps['on'], rps['off'])}, "
                  f"CPU per request {pct(cpu['on'], cpu['off'])} (target: under 5 % loss)")
            print(f"      of which metrics (stats vs off): throughput {pct(rps['stats'], rps['off'])}, "
                  f"CPU {cpu['stats'] - cpu['off']:+.1f} µs; keys + limit (on vs stats): throughput "
                  f"{pct(rps['on'], rps['stats'])}, CPU {cpu['on'] - cpu['stats']:+.1f} µs")
            print(f"    on vs off by the best runs: throughput {pct(best['on'], best['off'])}, "
                  f"CPU per request {pct(least['on'], least['off'])}")
            if "on+streams" in rps:
                print(f"    {args.streams} /monitor/stream clients vs none: throughput "
                      f"{pct(rps['on+streams'], rps['on'])}, CPU per request {pct(cpu['on+streams'], cpu['on'])}")
        if args.streams:
            quiet, watched = statistics.median(idle["on"]), statistics.median(idle["on+streams"])
            figures["idle_cpu_ms_per_s"] = {"none": quiet, "streams": watched}
            print(f"  the {args.streams} dashboards received {events} SSE events in all; an idle server takes "
                  f"{quiet:.1f} ms CPU per second without them and {watched:.1f} ms with them: "
                  f"{(watched - quiet) / 10:.2f} % of one core, the request capacity the stream costs")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
