#!/usr/bin/env python3
"""The corpus-linguistics plugins through the kernel: cold start and warm latency on a 50 KB transcript,
and keyness over a 1-million-word corpus.

Warm = the plugin process already running, the cache bypassed: what a second call costs (median wall
time). CPU = seconds of CPU per warm call, plugin process plus kernel, which a busy machine does not
inflate the way it inflates wall time. RSS is the
plugin process's resident memory after its runs (a plugin runs several cases: lemmas load into it). The 50 KB
transcript comes from scripts/make_corpus.py (deterministic), cleaned by teams_cleaner; the corpus is
a seeded Zipf sample over 50,000 synthetic word types (so the type count is realistic, unlike the small
vocabulary of the samples), 100,000 words of target and 900,000 of reference, sent as a reference text
(the plugin tokenizes the whole million) and as reference frequencies.

Usage: scripts/bench_analyses.py [--repeat 20]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qualia.kernel import Kernel, Settings  # noqa: E402
from qualia.kernel.inputs import load_document  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402
from qualia.plugin_sdk.text import tokenize  # noqa: E402

TARGET_MS = 50.0  # each analyzer on a 50 KB transcript, warm
KEYNESS_TARGET_S = 2.0  # keyness over a 1-million-word corpus


def transcript(folder: Path) -> Document:
    out = folder / "50kb"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_corpus.py"), str(out), "--docs", "1", "--kb", "50",
                    "--lang", "pt", "--format", "vtt"], check=True)
    return load_document(str(next(out.glob("*.vtt"))))


def zipf_words(rng: random.Random, types: int, count: int) -> list[str]:
    letters = string.ascii_lowercase + "áéíóúãõç"
    vocabulary = sorted({"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(types * 2)})[:types]
    rng.shuffle(vocabulary)
    weights = [1.0 / rank for rank in range(1, types + 1)]
    return rng.choices(vocabulary, weights=weights, k=count)


def corpus() -> tuple[str, str, dict[str, Any]]:
    """Target text (100k words), reference text (900k words) and the reference's frequencies."""
    rng = random.Random(11)
    target_words = zipf_words(rng, 50_000, 100_000)
    reference_words = zipf_words(random.Random(11), 50_000, 900_000)  # same vocabulary and ranks
    boosted = target_words[:50]  # some words the target uses more: keywords to find
    target_words += boosted * 20
    lines = lambda words: "\n".join(" ".join(words[i:i + 12]) + "." for i in range(0, len(words), 12))  # noqa: E731
    reference_text = lines(reference_words)
    counts = Counter(tokenize(reference_text))
    return lines(target_words), reference_text, {"total": sum(counts.values()), "frequencies": dict(counts)}


def rss_mib(kernel: Kernel, plugin_id: str) -> float:
    """Resident memory of the plugin's process now (after its runs)."""
    status = kernel.plugin_status(plugin_id)
    best = 0.0
    for proc in status.processes if status else []:
        try:
            best = max(best, psutil.Process(proc.pid).memory_info().rss / 2**20)
        except psutil.Error:
            continue
    return best


def cpu_s(kernel: Kernel, plugin_id: str) -> float:
    """CPU seconds (user + system) used so far by the plugin's process and by this one (the kernel)."""
    status = kernel.plugin_status(plugin_id)
    total = sum(psutil.Process().cpu_times()[:2])
    for proc in status.processes if status else []:
        try:
            total += sum(psutil.Process(proc.pid).cpu_times()[:2])
        except psutil.Error:
            continue
    return total


async def timed(kernel: Kernel, plugin: str, document: Document, config: dict[str, Any],
                inputs: dict[str, Any] | None = None) -> float:
    start = time.perf_counter()
    await kernel.execute(plugin, document, config, inputs or {}, use_cache=False)
    return time.perf_counter() - start


async def bench(repeat: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="qualia-bench-analyses-"))
    settings = Settings(home=home, use_entry_points=False)
    raw = transcript(home)
    rows: list[tuple[str, float, float, float, float, float]] = []
    async with Kernel(settings) as kernel:
        document = (await kernel.run("teams_cleaner", raw, use_cache=False)).document
        assert document is not None and document.segments
        words = tokenize(" ".join(s.text for s in document.segments))
        common = Counter(w for w in words if len(w) > 3).most_common(1)[0][0]
        pairs = Counter(pair for s in document.segments for pair in zip(tokenize(s.text), tokenize(s.text)[1:])
                        if pair[0] != pair[1])
        phrase = " ".join(pairs.most_common(1)[0][0])
        print(f"transcript: {len(raw.text.encode()) / 1024:.0f} KB, {len(document.segments)} segments, "
              f"{len(words)} words; node word {common!r}, phrase {phrase!r}")
        results: dict[str, Any] = {}
        cases: list[tuple[str, str, dict[str, Any], str | None]] = [
            ("concordance", "concordance", {"word": common}, None),
            ("concordance lemmas", "concordance", {"word": common, "lemmas": True}, None),
            ("concordance regex", "concordance", {"word": common[:3] + r"\w*", "match": "regex"}, None),
            ("collocations", "collocations", {"word": common}, None),
            ("collocations phrase", "collocations", {"word": phrase}, None),
            ("collocations lemmas", "collocations", {"word": common, "lemmas": True}, None),
            ("keyness (each speaker)", "keyness", {}, None),
            ("keyness lemmas", "keyness", {"lemmas": True}, None),
            ("speaker_stats", "speaker_stats", {}, None),
            ("readability", "readability", {}, None),
            ("word_frequency lemmas", "word_frequency", {"lemmas": True}, None),
            ("kwic_view [html]", "kwic_view", {"format": "html"}, "concordance"),
            ("keyness_chart [html]", "keyness_chart", {"format": "html"}, "keyness"),
            ("keyness_chart [png]", "keyness_chart", {"format": "png"}, "keyness"),
            ("speaker_stats_chart [html]", "speaker_stats_chart", {"format": "html"}, "speaker_stats"),
            ("speaker_stats_chart [png]", "speaker_stats_chart", {"format": "png"}, "speaker_stats"),
        ]
        for label, plugin, config, needs in cases:
            inputs = {needs: results[needs]} if needs else {}
            cold = await timed(kernel, plugin, document, config, inputs)  # starts the process
            cpu_before = cpu_s(kernel, plugin)
            warm = [await timed(kernel, plugin, document, config, inputs) for _ in range(repeat)]
            cpu = (cpu_s(kernel, plugin) - cpu_before) / repeat
            if needs is None and plugin not in results:
                results[plugin] = (await kernel.run(plugin, document, config, use_cache=False)).result
            warm.sort()
            rows.append((label, cold, statistics.median(warm), warm[max(0, int(len(warm) * 0.95) - 1)], cpu,
                         rss_mib(kernel, plugin)))

        target, reference_text, reference_counts = corpus()
        target_doc = Document(id="target", text=target)
        print(f"corpus: target {len(tokenize(target))} words, reference {reference_counts['total']} words, "
              f"{len(reference_counts['frequencies'])} reference types")
        big: list[tuple[str, float, float, float]] = []
        for label, config in (("keyness 1M words, reference_text", {"reference_text": reference_text}),
                              ("keyness 1M words, reference_frequencies", {"reference_frequencies": reference_counts}),
                              ("keyness 1M words, reference_text, lemmas", {"reference_text": reference_text,
                                                                           "lemmas": True, "language": "pt"})):
            first = await timed(kernel, "keyness", target_doc, config)
            cpu_before, count = cpu_s(kernel, "keyness"), max(3, repeat // 4)
            runs = sorted([await timed(kernel, "keyness", target_doc, config) for _ in range(count)])
            big.append((label, first, statistics.median(runs), (cpu_s(kernel, "keyness") - cpu_before) / count))

    print(f"\n{'plugin (50 KB transcript)':34} {'cold ms':>9} {'warm ms':>9} {'p95 ms':>8} {'CPU ms':>8} "
          f"{'RSS MiB':>8}")
    for label, cold, warm, p95, cpu, rss in rows:
        print(f"{label:34} {cold * 1000:9.1f} {warm * 1000:9.2f} {p95 * 1000:8.2f} {cpu * 1000:8.2f} {rss:8.1f}")
    print(f"\n{'keyness over 1,000,000 words':44} {'first s':>8} {'warm s':>8} {'CPU s':>8}")
    for label, first, warm, cpu in big:
        print(f"{label:44} {first:8.3f} {warm:8.3f} {cpu:8.3f}")
    analyzers = [r for r in rows if "[" not in r[0]]
    slowest = max(analyzers, key=lambda r: r[2])
    worst_big = max(big, key=lambda r: r[2])
    print(f"\ntargets: slowest analyzer warm on 50 KB {slowest[0]} {slowest[2] * 1000:.1f} ms wall, "
          f"{slowest[4] * 1000:.1f} ms CPU (< {TARGET_MS:.0f} ms, {TARGET_MS / (slowest[2] * 1000):.1f}x headroom on "
          f"wall time); keyness 1M words warm {worst_big[2]:.2f} s wall, {worst_big[3]:.2f} s CPU "
          f"(< {KEYNESS_TARGET_S:.0f} s, {KEYNESS_TARGET_S / worst_big[2]:.1f}x headroom on wall time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    before = os.getloadavg()[0]
    asyncio.run(bench(args.repeat))
    print(f"load average (1 min) {before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores: "
          "other work on the machine slows every figure")


if __name__ == "__main__":
    main()
