"""Accuracy of the sentiment analyzer next to TextBlob, VADER and LeIA on labelled sets it was not tuned on.

    python scripts/eval_sentiment.py                      # the sets in scripts/sentiment_eval/
    python scripts/eval_sentiment.py --set pt=reviews.tsv # add a set: LANG=PATH, lines "text<TAB>label"

A label is positive/negative (or pos/neg, 1/0, or a star rating 1-5: 1-2 negative, 4-5 positive, 3 dropped).
Every scorer sees the same items. A prediction is the sign of the polarity; an exact 0 is no prediction
and counts as wrong. Printed per set and scorer: accuracy, macro-F1 (over positive and negative), the share
of items scored exactly 0, and sentences per second (one core, resources already loaded).

The shipped sets are never used for tuning or training (see scripts/sentiment_eval/README.md).
Needs the dev extra (textblob is only a baseline here).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent
DEFAULT_SETS = sorted((ROOT / "sentiment_eval").glob("*.tsv"))
LABELS = {"positive": 1, "pos": 1, "1": 1, "negative": -1, "neg": -1, "0": -1, "-1": -1}
STARS = {"1": -1, "2": -1, "4": 1, "5": 1, "3": 0}


def read_set(path: Path) -> list[tuple[str, int]]:
    """Items with their labels; a file whose labels include 2-5 is read as star ratings throughout, so a
    leading "1" is one star (negative), not the binary positive label."""
    rows: list[tuple[int, str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        text, _, label = line.rpartition("\t")
        if not text:
            raise SystemExit(f"error: {path} line {number}: expected 'text<TAB>label'")
        rows.append((number, text, label.strip().lower()))
    stars = any(label in ("2", "3", "4", "5") for _, _, label in rows)
    items = []
    for number, text, label in rows:
        value = STARS.get(label) if stars else LABELS.get(label)
        if value is None:
            raise SystemExit(f"error: {path} line {number}: unknown label {label!r}")
        if value:
            items.append((text, value))
    return items


def qualia(language: str) -> Callable[[str], float]:
    from qualia.plugins.sentiment_analyzer.scorers import get_scorer

    scorer = get_scorer(language, 3)
    return lambda text: scorer.score(text).polarity


def qualia_rules(language: str) -> Callable[[str], float]:
    """The analyzer's lexicon and rules alone, without the n-gram model."""
    from qualia.plugins.sentiment_analyzer import rules
    from qualia.plugins.sentiment_analyzer.lexicon import resources

    res = resources(language)
    return lambda text: rules.squash(rules.score(text, res, 3).total)


def textblob(language: str) -> Callable[[str], float]:
    from textblob.en.sentiments import PatternAnalyzer

    analyzer = PatternAnalyzer()
    return lambda text: analyzer.analyze(text)[0]


def vader(language: str) -> Callable[[str], float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda text: analyzer.polarity_scores(text)["compound"]


def leia(language: str) -> Callable[[str], float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        from LeIA.leia import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda text: analyzer.polarity_scores(text)["compound"]


SCORERS = {"qualia": qualia, "rules": qualia_rules, "textblob": textblob, "vader": vader, "leia": leia}


def metrics(items: list[tuple[str, int]], predict: Callable[[str], float]) -> dict[str, float]:
    started = time.perf_counter()
    polarities = [predict(text) for text, _ in items]
    seconds = time.perf_counter() - started
    predicted = [(p > 0) - (p < 0) for p in polarities]
    gold = [label for _, label in items]
    correct = sum(p == g for p, g in zip(predicted, gold))
    f1s = []
    for cls in (1, -1):
        tp = sum(p == cls and g == cls for p, g in zip(predicted, gold))
        fp = sum(p == cls and g != cls for p, g in zip(predicted, gold))
        fn = sum(p != cls and g == cls for p, g in zip(predicted, gold))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": correct / len(items), "macro_f1": sum(f1s) / 2,
            "zeros": predicted.count(0) / len(items), "per_second": len(items) / seconds if seconds else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="LANG=PATH",
                        help="an extra labelled set (pt or en); may repeat")
    parser.add_argument("--only-extra", action="store_true", help="skip the shipped sets")
    args = parser.parse_args(argv)
    sets: list[tuple[str, str, Path]] = []
    if not args.only_extra:
        for path in DEFAULT_SETS:
            sets.append((path.stem.split("_")[0], path.stem, path))
    for spec in args.set:
        language, _, path = spec.partition("=")
        if language not in ("pt", "en") or not path:
            parser.error(f"--set {spec!r}: expected pt=PATH or en=PATH")
        if not Path(path).is_file():
            parser.error(f"--set {spec!r}: no such file")
        sets.append((language, Path(path).stem, Path(path)))
    if not sets:
        parser.error("no evaluation set")
    print(f"{'set':<28} {'lang':<4} {'n':>5}  {'scorer':<9} {'accuracy':>8} {'macro-F1':>8} {'zeros':>6} "
          f"{'sent/s':>8}")
    for language, name, path in sets:
        items = read_set(path)
        for scorer_name, factory in SCORERS.items():
            predict = factory(language)
            predict(items[0][0])  # load resources before timing
            m = metrics(items, predict)
            print(f"{name:<28} {language:<4} {len(items):>5}  {scorer_name:<9} {m['accuracy']:>8.3f} "
                  f"{m['macro_f1']:>8.3f} {m['zeros']:>6.1%} {m['per_second']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
