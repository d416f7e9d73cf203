#!/usr/bin/env python3
"""Sentiment throughput on one core: sentences per second, language given and detected per segment.

Scores the sentences of the sample transcripts (examples/transcripts), repeated to --count sentences, with
resources already loaded (the first-text load is reported apart). The target is >= 2,000 sentences/s.
Usage: scripts/bench_sentiment.py [--count 20000]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2000
CUE = re.compile(r"^(WEBVTT|NOTE|\d+$|[\d:.,]+ --> )")


def sentences(language: str) -> list[str]:
    lines = []
    for path in sorted((ROOT / "examples" / "transcripts").glob(f"*_{language}.*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"<[^>]+>|^\[[\d:]+\] [^:]+: |^[A-ZÀ-Ú][\w ]+: ", "", line).strip()
            if line and not CUE.match(line):
                lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args(argv)
    from qualia.plugins._text.language import detect
    from qualia.plugins.sentiment_analyzer.scorers import get_scorer

    print(f"{'language':<10} {'sentences':>9} {'load s':>7} {'sent/s':>8} {'vs target':>9}")
    for language in ("pt", "en"):
        pool = sentences(language)
        texts = [f"{pool[i % len(pool)]} ({i})" for i in range(args.count)]  # distinct: no cache hits
        started = time.perf_counter()
        scorer = get_scorer(language, 3)
        scorer.score(texts[0])
        load = time.perf_counter() - started
        started = time.perf_counter()
        for text in texts:
            scorer.score(text)
        rate = len(texts) / (time.perf_counter() - started)
        print(f"{language:<10} {len(texts):>9} {load:>7.2f} {rate:>8.0f} {rate / TARGET:>8.1f}x")
    pool = sentences("pt") + sentences("en")
    texts = [f"{pool[i % len(pool)]} ({i})" for i in range(args.count)]
    started = time.perf_counter()
    detect("péssimo")
    load = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        found = detect(text)
        get_scorer(found.language if found.supported else "pt", 3).score(text)
    rate = len(texts) / (time.perf_counter() - started)
    print(f"{'auto':<10} {len(texts):>9} {load:>7.2f} {rate:>8.0f} {rate / TARGET:>8.1f}x   (lingua per sentence)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
