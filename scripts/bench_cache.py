"""Micro-benchmark of ResultCache: get/put latency for a few-KB value.

Run: .venv/bin/python scripts/bench_cache.py [--calls 10000] [--entries 10000] [--size 5120]

The target is a hit under 0.5 ms; this prints median, p99 and max per call
for a hot key, random keys (cold in SQLite's page cache at first), random keys
with an LRU write on every hit (the worst case), and puts.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qualia.kernel.cache import ResultCache


def _measure(label: str, calls: int, operation: Callable[[int], object]) -> None:
    timings: list[int] = []
    for i in range(calls):
        start = time.perf_counter_ns()
        operation(i)
        timings.append(time.perf_counter_ns() - start)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"{label:<34} median {statistics.median(timings) / 1000:7.1f} us"
        f"   p99 {p99 / 1000:7.1f} us   max {timings[-1] / 1000:8.1f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=5 * 1024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cache.sqlite3"
        keys = [f"{i:064x}" for i in range(args.entries)]
        value = os.urandom(args.size)
        rng = random.Random(0)

        with ResultCache(path) as cache:
            fill_start = time.perf_counter()
            for key in keys:
                cache.put(key, "bench", value)
            fill = time.perf_counter() - fill_start
            print(f"filled {args.entries} x {args.size} B in {fill:.2f} s ({path.stat().st_size / 2**20:.0f} MiB file)")

            hot = keys[0]
            _measure(f"get hot key ({args.size} B)", args.calls, lambda i: cache.get(hot))
            _measure("get random key", args.calls, lambda i: cache.get(rng.choice(keys)))
            _measure("get miss", args.calls, lambda i: cache.get(f"miss-{i}"))
            _measure("put new key", args.calls, lambda i: cache.put(f"new-{i}", "bench", value))
            print(cache.stats())

        with ResultCache(path, touch_interval=0.0) as cache:
            _measure("get random key, LRU write each hit", args.calls, lambda i: cache.get(rng.choice(keys)))


if __name__ == "__main__":
    main()
