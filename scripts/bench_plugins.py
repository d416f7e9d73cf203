#!/usr/bin/env python3
"""Per-plugin latency through the kernel: cold, warm on 5 KB and 50 KB transcripts,
cache hit, and peak RSS of each plugin process.

Transcripts come from scripts/make_corpus.py (deterministic). Visualizers get
their inputs from a real word_frequency / sentiment_analyzer run; only the
visualizer call itself is timed. Usage: scripts/bench_plugins.py [--repeat 20]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qualia.kernel import Kernel, Settings  # noqa: E402
from qualia.kernel.inputs import load_document  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402

# (plugin, config, what its input is)
CASES = [
    ("teams_cleaner", {}, "raw"),
    ("word_frequency", {}, "segments"),
    ("sentiment_analyzer", {}, "segments"),
    ("wordcloud_viz", {"format": "png", "width": 800, "height": 400}, "word_frequencies"),
    ("frequency_chart", {"format": "png"}, "word_frequencies"),
    ("frequency_chart", {"format": "html"}, "word_frequencies"),
    ("sentiment_viz", {"format": "png"}, "sentiment"),
    ("sentiment_viz", {"format": "html"}, "sentiment"),
]
TARGETS_MS = {"word_frequency@50KB warm": 5.0, "wordcloud_viz[png]@5KB warm": 500.0, "cache hit": 0.5,
              "cold": 500.0}


def make_transcripts(folder: Path) -> dict[str, Document]:
    documents = {}
    for kb in (5, 50):
        out = folder / f"{kb}kb"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_corpus.py"), str(out), "--docs", "1",
                        "--kb", str(kb), "--lang", "pt", "--format", "vtt"], check=True)
        documents[f"{kb}KB"] = load_document(str(next(out.glob("*.vtt"))))
    return documents


def peak_rss_mib(kernel: Kernel, plugin_id: str) -> float:
    status = kernel.plugin_status(plugin_id)
    best = 0.0
    for proc in status.processes if status else []:
        try:
            info = psutil.Process(proc.pid).memory_full_info()
            best = max(best, getattr(info, "uss", info.rss) / 2**20, info.rss / 2**20)
        except psutil.Error:
            continue
    return best


async def bench(repeat: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="qualia-bench-"))
    documents = make_transcripts(home)
    settings = Settings(home=home, use_entry_points=False)
    rows = []
    async with Kernel(settings) as kernel:
        # Inputs each kind needs, made once through the real plugins.
        prepared: dict[str, dict[str, object]] = {}
        for size, raw in documents.items():
            cleaned = (await kernel.run("teams_cleaner", raw, use_cache=False)).document
            freqs = (await kernel.run("word_frequency", cleaned, use_cache=False)).result
            senti = (await kernel.run("sentiment_analyzer", cleaned, use_cache=False)).result
            prepared[size] = {"raw": raw, "segments": cleaned, "word_frequencies": freqs, "sentiment": senti}
        await kernel.stop()

    for plugin_id, config, needs in CASES:
        label = plugin_id + (f"[{config['format']}]" if "format" in config else "")
        async with Kernel(settings) as kernel:
            for size in ("5KB", "50KB"):
                data = prepared[size]
                document = data["segments"] if needs in ("segments", "word_frequencies", "sentiment") else data["raw"]
                inputs = {needs: data[needs]} if needs in ("word_frequencies", "sentiment") else {}
                call = lambda cache=False: kernel.execute(plugin_id, document, config, inputs,  # noqa: E731
                                                          use_cache=cache)
                cold = None
                if size == "5KB":
                    start = time.perf_counter()
                    await call()
                    cold = time.perf_counter() - start
                warm = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    await call()
                    warm.append(time.perf_counter() - start)
                await call(cache=True)  # store
                hits = []
                for _ in range(max(repeat, 200)):
                    start = time.perf_counter()
                    execution = await call(cache=True)
                    hits.append(time.perf_counter() - start)
                    assert execution.cached
                rows.append((label, size, cold, statistics.median(warm), statistics.median(hits),
                             peak_rss_mib(kernel, plugin_id)))

    print(f"{'plugin':28} {'size':>5} {'cold ms':>9} {'warm ms':>9} {'hit ms':>8} {'RSS MiB':>8}")
    for label, size, cold, warm, hit, rss in rows:
        cold_text = f"{cold * 1000:9.1f}" if cold is not None else f"{'':9}"
        print(f"{label:28} {size:>5} {cold_text} {warm * 1000:9.2f} {hit * 1000:8.3f} {rss:8.1f}")
    lookup = {(label, size): (cold, warm, hit) for label, size, cold, warm, hit, _ in rows}
    wf50 = lookup[("word_frequency", "50KB")][1] * 1000
    wc = lookup[("wordcloud_viz[png]", "5KB")][1] * 1000
    hit = max(h for _, _, h in lookup.values()) * 1000
    worst_cold = max(c for c, _, _ in lookup.values() if c is not None) * 1000
    print(f"\ntargets: word_frequency 50 KB warm {wf50:.2f} ms (< 5 ms); wordcloud PNG 800x400 warm {wc:.0f} ms "
          f"(< 500 ms); slowest cache hit {hit:.3f} ms (< 0.5 ms); slowest cold start {worst_cold:.0f} ms (< 500 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(bench(args.repeat))


if __name__ == "__main__":
    main()
