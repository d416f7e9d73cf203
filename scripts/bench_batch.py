#!/usr/bin/env python3
"""Benchmark `qualia batch`: documents/s, time per document, and peak RSS of the whole process tree.

Usage: bench_batch.py [--sizes 1000,10000] [--kb 5] [--workers 2] [--baseline 1000] [--keep DIR]
                      [--cluster local:2 | tcp://HOST:PORT]

For each size, a synthetic corpus of 5 KB transcripts (scripts/make_corpus.py)
goes through clean -> word_frequency -> sentiment with `qualia batch` as a
subprocess (fresh QUALIA_HOME, so nothing is cached), while psutil samples the
RSS of the batch process and all its children every 50 ms. Then the same
files (the first `--baseline` of them) go through today's single-document
loop, `qualia pipeline FILE... -f PIPELINE`, as the baseline. It prints
documents/s, ms per document, peak RSS, the CPU seconds the whole tree used
per document (a figure the machine's other load does not inflate), the
linearity of time per document from the smallest to the largest size (target:
within 15 %), and the speed-up over the baseline. Not a test: nothing asserts.

With `--cluster` (the `dask` extra), each size also runs as `qualia batch
--cluster ...` on the same files: documents/s on the cluster and locally (the
batch's own time, which leaves out starting the cluster, and the whole
command's), the cluster path's overhead per document (wall and CPU of the
whole tree: client, scheduler, workers, plugins), and the peak RSS of the
client process alone (for local:N it also hosts the scheduler; the workers
and their plugins are its children), which must stay flat with corpus size.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import psutil

HERE = Path(__file__).resolve().parent
QUALIA = str(Path(sys.executable).parent / "qualia")
PIPELINE = """name = "bench"
[[steps]]
plugin = "teams_cleaner"
[[steps]]
plugin = "word_frequency"
[[steps]]
plugin = "sentiment_analyzer"
"""


class TreeSampler:
    """Peak RSS and total CPU time of a process and all its descendants, sampled on a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_root_rss = 0  # the batch process alone (the Dask client, and a local cluster's scheduler)
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.peak_by_name: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            rss = 0
            by_name: dict[str, int] = {}
            for process in processes:
                try:
                    with process.oneshot():
                        process_rss = process.memory_info().rss
                        rss += process_rss
                        if process.pid == self.root.pid:
                            self.peak_root_rss = max(self.peak_root_rss, process_rss)
                        times = process.cpu_times()
                        # own time only: a reaped plugin's time also lands in the kernel's children_* times
                        self.cpu[process.pid] = times.user + times.system
                        if process.pid not in self.names or (process.pid != self.root.pid and self.names[
                                process.pid] in ("kernel", "dask_worker")):  # a plugin between fork and exec
                            command = process.cmdline()
                            module = command[command.index("-m") + 1] if "-m" in command else \
                                "dask_worker" if "spawn_main" in " ".join(command) else "kernel"
                            self.names[process.pid] = module.rsplit(".", 1)[-1]
                        name = self.names[process.pid]
                        by_name[name] = by_name.get(name, 0) + process_rss
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            for name, value in by_name.items():
                self.peak_by_name[name] = max(self.peak_by_name.get(name, 0), value)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def cpu_by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, seconds in self.cpu.items():
            name = self.names.get(pid, "?")
            totals[name] = totals.get(name, 0.0) + seconds
        return totals


class Run(NamedTuple):
    wall: float                  # seconds, the whole command (a cluster's start included)
    peak: int                    # peak RSS of the process tree, bytes
    cpu: float                   # CPU seconds of the tree
    code: int
    by_name: dict[str, float]    # CPU seconds per process name
    peak_root: int               # peak RSS of the command's own process, bytes
    batch_s: float               # the batch's own time (its summary line): the documents, not the startup


def measure(command: list[str], env: dict[str, str], cwd: Path) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = TreeSampler(process.pid)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    if process.returncode:
        print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    peaks = ", ".join(f"{name} {value / 2**20:.0f}" for name, value in sorted(sampler.peak_by_name.items()))
    print(f"         peak RSS MB by process (all of its pool): {peaks}")
    found = re.search(r"documents analysed in ([0-9.]+) s", stdout.decode(errors="replace"))
    return Run(wall, sampler.peak_rss, sampler.cpu_s, process.returncode, sampler.cpu_by_name(),
               sampler.peak_root_rss, float(found.group(1)) if found else wall)


async def _noop(data: bytes) -> int:
    return len(data)


def dask_task_cost(workers: int, tasks: int = 2000, kb: int = 5) -> tuple[float, float]:
    """Dask's own cost of one task on a LocalCluster like `--cluster local:N`'s: a coroutine that does
    nothing with a 5 KB argument, the same window of tasks in flight. (wall ms, CPU ms of the tree) per task."""
    import asyncio
    import logging

    import distributed

    async def run() -> tuple[float, float]:
        async with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                            host="127.0.0.1", dashboard_address="127.0.0.1:0", asynchronous=True,
                                            silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster, asynchronous=True) as client:
            await client.wait_for_workers(workers)
            me = psutil.Process()

            def cpu() -> float:
                return sum(sum(process.cpu_times()[:2]) for process in [me, *me.children(recursive=True)])

            payload = b"x" * (kb * 1024)
            started, cpu_started = time.perf_counter(), cpu()
            completed = distributed.as_completed(loop=client.loop)
            running: set = set()
            submitted = 0
            while submitted < tasks or running:
                while submitted < tasks and len(running) < 2 * workers + 2:
                    future = client.submit(_noop, payload, pure=False, key=f"noop-{submitted}")
                    submitted += 1
                    running.add(future)
                    completed.add(future)
                future = await anext(completed)
                await future
                running.discard(future)
                future.release()
            return (time.perf_counter() - started) / tasks * 1000, (cpu() - cpu_started) / tasks * 1000

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--kb", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=1000, help="documents for the `pipeline` loop (0: skip)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                        help="also run each size on this Dask cluster (qualia batch --cluster)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="qualia-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    pipeline = work / "pipeline.toml"
    pipeline.write_text(PIPELINE, encoding="utf-8")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; workers {args.workers}; "
          f"{args.kb} KB transcripts; clean -> word_frequency -> sentiment")
    rows = []
    cluster_rows: list[tuple[int, Run, Run]] = []
    for size in sizes:
        corpus = work / f"corpus-{size}"
        if not corpus.exists():
            subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--docs", str(size),
                            "--kb", str(args.kb)], check=True)
        env = {**os.environ, "QUALIA_HOME": str(work / f"home-{size}-{time.time_ns()}"), "QUALIA_PLUGIN_PATH": ""}
        env.pop("QUALIA_DASK_SCHEDULER", None)
        out = work / f"out-{size}-{time.time_ns()}"
        local = measure([QUALIA, "batch", str(corpus), "-f", str(pipeline), "-o", str(out), "--workers",
                         str(args.workers)], env, work)
        wall, peak, cpu, code, by_name = local.wall, local.peak, local.cpu, local.code, local.by_name
        rows.append((size, wall, peak, cpu))
        print(f"batch    {size:>6} docs: {wall:7.2f} s  {size / wall:7.1f} docs/s  {wall / size * 1000:6.2f} ms/doc  "
              f"peak RSS {peak / 2**20:6.1f} MB  CPU {cpu / size * 1000:5.2f} ms/doc "
              f"(=> {args.workers / (cpu / size):5.0f} docs/s on {args.workers} idle cores)  exit {code}")
        print("         CPU ms/doc by process: " + ", ".join(
            f"{name} {seconds / size * 1000:.2f}" for name, seconds in sorted(by_name.items())))
        if args.cluster:
            out = work / f"cluster-{size}-{time.time_ns()}"
            env["QUALIA_HOME"] = str(work / f"home-cluster-{size}-{time.time_ns()}")
            remote = measure([QUALIA, "batch", str(corpus), "-f", str(pipeline), "-o", str(out), "--cluster",
                              args.cluster], env, work)
            cluster_rows.append((size, local, remote))
            print(f"cluster  {size:>6} docs: {remote.wall:7.2f} s  {size / remote.wall:7.1f} docs/s  "
                  f"{remote.wall / size * 1000:6.2f} ms/doc  peak RSS {remote.peak / 2**20:6.1f} MB (client "
                  f"{remote.peak_root / 2**20:5.1f})  CPU {remote.cpu / size * 1000:5.2f} ms/doc  exit {remote.code}")
            print("         CPU ms/doc by process: " + ", ".join(
                f"{name} {seconds / size * 1000:.2f}" for name, seconds in sorted(remote.by_name.items())))
    if len(rows) > 1:
        (small, wall_small, peak_small, _), (large, wall_large, peak_large, _) = rows[0], rows[-1]
        ratio = (wall_large / large) / (wall_small / small)
        print(f"linearity: time per document at {large} / at {small} = {ratio:.3f} (target <= 1.15); "
              f"peak RSS {peak_small / 2**20:.0f} -> {peak_large / 2**20:.0f} MB")
    for size, local, remote in cluster_rows:
        print(f"cluster {args.cluster} at {size} docs: {size / remote.batch_s:.1f} docs/s vs {size / local.batch_s:.1f} "
              f"locally (the batches' own time) = {local.batch_s / remote.batch_s:.2f} of local throughput (target "
              f">= 0.80); with the cluster's start {local.wall / remote.wall:.2f}; overhead per document "
              f"{(remote.batch_s - local.batch_s) / size * 1000:+.2f} ms wall, {(remote.cpu - local.cpu) / size * 1000:+.2f} "
              f"ms CPU ({remote.cpu / local.cpu:.2f}x the local CPU)")
    if args.cluster and args.cluster.startswith("local:"):
        wall_ms, cpu_ms = dask_task_cost(int(args.cluster.split(":")[1]))
        print(f"Dask's own cost per task here (a no-op coroutine, {args.kb} KB in, same window): {wall_ms:.2f} ms "
              f"wall, {cpu_ms:.2f} ms CPU of the tree")
    if len(cluster_rows) > 1:
        (small, _, first), (large, _, last) = cluster_rows[0], cluster_rows[-1]
        print(f"cluster client peak RSS {first.peak_root / 2**20:.0f} MB at {small} docs -> {last.peak_root / 2**20:.0f} "
              f"MB at {large} docs ({last.peak_root / first.peak_root:.2f}x for {large / small:.0f}x the documents)")
    if args.baseline:
        size = args.baseline
        corpus = work / f"corpus-{size}"
        if not corpus.exists():
            subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--docs", str(size),
                            "--kb", str(args.kb)], check=True)
        files = sorted(str(path) for path in corpus.iterdir())[:size]
        env = {**os.environ, "QUALIA_HOME": str(work / f"home-base-{time.time_ns()}"), "QUALIA_PLUGIN_PATH": ""}
        wall, peak, cpu, code, *_ = measure([QUALIA, "pipeline", *files, "-f", str(pipeline), "-o",
                                          str(work / f"base-{time.time_ns()}")], env, work)
        print(f"pipeline {size:>6} docs: {wall:7.2f} s  {size / wall:7.1f} docs/s  {wall / size * 1000:6.2f} ms/doc  "
              f"peak RSS {peak / 2**20:6.1f} MB  CPU {cpu / size * 1000:5.2f} ms/doc  exit {code}  (baseline: "
              f"today's single-document loop)")
        same = [row for row in rows if row[0] == size]
        if same:
            print(f"speed-up of batch over the pipeline loop on the same {size} files: "
                  f"{wall / same[0][1]:.2f}x")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
