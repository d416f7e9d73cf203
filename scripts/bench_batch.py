#!/usr/bin/env python3
"""Benchmark `qualia batch`: documents/s, time per document, and peak RSS of the whole process tree.

Usage: bench_batch.py [--sizes 1000,10000] [--kb 5] [--workers 2] [--baseline 1000] [--keep DIR]

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
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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
                        times = process.cpu_times()
                        # own time only: a reaped plugin's time also lands in the kernel's children_* times
                        self.cpu[process.pid] = times.user + times.system
                        if process.pid not in self.names:
                            command = process.cmdline()
                            module = command[command.index("-m") + 1] if "-m" in command else "kernel"
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


def measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, float, int, dict[str, float]]:
    """(wall seconds, peak RSS bytes, CPU seconds of the tree, exit code, CPU seconds per process name)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(process.pid)
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    if process.returncode:
        print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    peaks = ", ".join(f"{name} {value / 2**20:.0f}" for name, value in sorted(sampler.peak_by_name.items()))
    print(f"         peak RSS MB by process (all of its pool): {peaks}")
    return wall, sampler.peak_rss, sampler.cpu_s, process.returncode, sampler.cpu_by_name()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--kb", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=1000, help="documents for the `pipeline` loop (0: skip)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="qualia-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    pipeline = work / "pipeline.toml"
    pipeline.write_text(PIPELINE, encoding="utf-8")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; workers {args.workers}; "
          f"{args.kb} KB transcripts; clean -> word_frequency -> sentiment")
    rows = []
    for size in sizes:
        corpus = work / f"corpus-{size}"
        if not corpus.exists():
            subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--docs", str(size),
                            "--kb", str(args.kb)], check=True)
        env = {**os.environ, "QUALIA_HOME": str(work / f"home-{size}-{time.time_ns()}"), "QUALIA_PLUGIN_PATH": ""}
        out = work / f"out-{size}-{time.time_ns()}"
        wall, peak, cpu, code, by_name = measure([QUALIA, "batch", str(corpus), "-f", str(pipeline), "-o",
                                                  str(out), "--workers", str(args.workers)], env, work)
        rows.append((size, wall, peak, cpu))
        print(f"batch    {size:>6} docs: {wall:7.2f} s  {size / wall:7.1f} docs/s  {wall / size * 1000:6.2f} ms/doc  "
              f"peak RSS {peak / 2**20:6.1f} MB  CPU {cpu / size * 1000:5.2f} ms/doc "
              f"(=> {args.workers / (cpu / size):5.0f} docs/s on {args.workers} idle cores)  exit {code}")
        print("         CPU ms/doc by process: " + ", ".join(
            f"{name} {seconds / size * 1000:.2f}" for name, seconds in sorted(by_name.items())))
    if len(rows) > 1:
        (small, wall_small, peak_small, _), (large, wall_large, peak_large, _) = rows[0], rows[-1]
        ratio = (wall_large / large) / (wall_small / small)
        print(f"linearity: time per document at {large} / at {small} = {ratio:.3f} (target <= 1.15); "
              f"peak RSS {peak_small / 2**20:.0f} -> {peak_large / 2**20:.0f} MB")
    if args.baseline:
        size = args.baseline
        corpus = work / f"corpus-{size}"
        if not corpus.exists():
            subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--docs", str(size),
                            "--kb", str(args.kb)], check=True)
        files = sorted(str(path) for path in corpus.iterdir())[:size]
        env = {**os.environ, "QUALIA_HOME": str(work / f"home-base-{time.time_ns()}"), "QUALIA_PLUGIN_PATH": ""}
        wall, peak, cpu, code, _ = measure([QUALIA, "pipeline", *files, "-f", str(pipeline), "-o",
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
