#!/usr/bin/env python3
"""Round trip through the kernel to a no-op plugin process, against in-process baselines.

Prints: sequential latency (median, p99), throughput with 16 calls in flight at
concurrency 1 and 2, cold start, crash recovery (kill -9 to next answer), and
the ratios to a direct function call and to the stdlib json codec.
Usage: scripts/bench_rpc.py [--calls 10000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qualia.kernel import Kernel, Settings  # noqa: E402
from qualia.kernel.registry import Registry  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402
from qualia.plugin_sdk import protocol as p  # noqa: E402

BENCH_PLUGINS = ROOT / "scripts" / "bench_plugins"
DOC = Document(id="bench", text="Bom dia, pessoal. Hoje a ideia é ouvir vocês sobre o onboarding novo.")


def settings(home: Path) -> Settings:
    return Settings(home=home, plugin_path=[BENCH_PLUGINS], use_entry_points=False)


def kernel_for(home: Path, concurrency: int = 1) -> Kernel:
    registry = Registry([BENCH_PLUGINS], entry_points=False, bundled=None)
    kernel = Kernel(settings(home), registry=registry)
    return kernel


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(kernel: Kernel, calls: int) -> list[float]:
    for _ in range(200):  # warm up
        await kernel.run("noop", DOC, use_cache=False)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await kernel.run("noop", DOC, use_cache=False)
        times.append(time.perf_counter() - start)
    return times


async def throughput(home: Path, concurrency: int, calls: int, in_flight: int = 16) -> float:
    kernel = kernel_for(home)
    await kernel.start()
    kernel.registry.manifests["noop"].concurrency = concurrency
    try:
        await asyncio.gather(*(kernel.run("noop", DOC, use_cache=False) for _ in range(in_flight * 4)))  # start processes
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await kernel.run("noop", DOC, use_cache=False)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return calls / (time.perf_counter() - start)
    finally:
        await kernel.stop()


async def cold_start(home: Path) -> float:
    start = time.perf_counter()
    kernel = kernel_for(home)
    await kernel.start()
    await kernel.run("noop", DOC, use_cache=False)
    elapsed = time.perf_counter() - start
    await kernel.stop()
    return elapsed


async def crash_recovery(kernel: Kernel) -> float:
    await kernel.run("noop", DOC, use_cache=False)
    pid = kernel.plugin_status("noop").processes[0].pid
    start = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            await kernel.run("noop", DOC, use_cache=False)
            return time.perf_counter() - start
        except Exception:  # the call that meets the dead process fails; the next restarts it
            continue


def in_process(calls: int) -> float:
    sys.path.insert(0, str(BENCH_PLUGINS / "noop"))
    from plugin import Noop  # type: ignore[import-not-found]

    plugin = Noop()
    start = time.perf_counter()
    for _ in range(calls):
        plugin.analyze(DOC, {}, {})
    return (time.perf_counter() - start) / calls


def codec_cost(calls: int) -> tuple[float, float]:
    """Encode+decode of one request and one response, with msgspec and with stdlib json."""
    request = p.Request(id=1, method="run", params=p.RunParams(document=DOC, config={}, inputs={}))
    response = p.Response(id=1, result=p.AnalyzerResult(result={}))
    codec = p.LineCodec()
    run_decoder = msgspec.json.Decoder(p.RunParams)
    start = time.perf_counter()
    for _ in range(calls):
        message = codec.decode(codec.encode(request))
        run_decoder.decode(message.params)
        codec.decode(codec.encode(response))
    fast = (time.perf_counter() - start) / calls
    request_dict, response_dict = msgspec.to_builtins(request), msgspec.to_builtins(response)
    start = time.perf_counter()
    for _ in range(calls):
        message = json.loads(json.dumps(request_dict) + "\n")
        Document(**message["params"]["document"])
        json.loads(json.dumps(response_dict) + "\n")
    slow = (time.perf_counter() - start) / calls
    return fast, slow


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="qualia-bench-"))
    us = 1e6

    kernel = kernel_for(home)
    await kernel.start()
    times = await sequential(kernel, args.calls)
    recoveries = [await crash_recovery(kernel) for _ in range(5)]
    await kernel.stop()
    median, p99 = statistics.median(times), pct(times, 0.99)
    colds = [await cold_start(home) for _ in range(5)]
    tput1 = await throughput(home, 1, args.calls)
    tput2 = await throughput(home, 2, args.calls)
    direct = in_process(100_000)
    fast, slow = codec_cost(20_000)

    print(f"sequential round trip ({args.calls} calls): median {median * us:.0f} us, p99 {p99 * us:.0f} us "
          f"(target median < 150 us)")
    print(f"16 in flight: concurrency 1 {tput1:,.0f} calls/s, concurrency 2 {tput2:,.0f} calls/s "
          f"(x{tput2 / tput1:.2f})")
    print(f"cold start (kernel start to first answer): median {statistics.median(colds) * 1000:.0f} ms")
    print(f"crash recovery (kill -9 to next answer): median {statistics.median(recoveries) * 1000:.0f} ms, "
          f"max {max(recoveries) * 1000:.0f} ms (target < 300 ms)")
    print(f"in-process direct call: {direct * us:.2f} us -> the process hop costs x{median / direct:,.0f}")
    print(f"codec per round trip: msgspec {fast * us:.1f} us, stdlib json {slow * us:.1f} us (x{slow / fast:.1f}); "
          f"round trip with json would be ~{(median - fast + slow) * us:.0f} us")


if __name__ == "__main__":
    asyncio.run(main())
