"""Train the English n-gram model shipped as plugins/sentiment_analyzer/data/model_en.tsv.gz.

Training data: the human-rated sentences VADER's authors published with their paper (Hutto & Gilbert 2014),
inside the vaderSentiment source distribution (MIT licence):

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/vader
    tar xzf /tmp/vader/vaderSentiment-3.3.2.tar.gz -C /tmp/vader
    tar xzf /tmp/vader/vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz -C /tmp/vader
    python scripts/train_sentiment_model.py /tmp/vader/hutto_ICWSM_2014

The model is trained on the tweets, movie-review and NYT-editorial sets only; the Amazon product-review set
is never seen, so scripts/eval_sentiment.py can report on it. Sentences rated within +-0.5 of neutral (scale
-4..4) are left out of training. The L2 strength is chosen on a random fifth held out from a fit on
the rest (printed), then the final model is fitted on all three. Needs numpy (a matplotlib dependency).
"""
from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

from qualia.plugins.sentiment_analyzer import rules
from qualia.plugins.sentiment_analyzer.lexicon import english
from qualia.plugins.sentiment_analyzer.model import CLAUSE, RULE_FEATURE, ngrams, rule_feature

TRAIN_SETS = ("tweets", "movieReviewSnippets", "nytEditorialSnippets")
MIN_RATING = 0.5
MIN_COUNT = 3
KEEP_WEIGHT = 0.02
OUT = Path(__file__).resolve().parents[1] / "plugins" / "sentiment_analyzer" / "data" / "model_en.tsv.gz"


def read_set(folder: Path, name: str) -> list[tuple[str, float]]:
    rows = []
    for line in (folder / f"{name}_GroundTruth.txt").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            rows.append((parts[2], float(parts[1])))
    return rows


def featurize(text: str) -> tuple[float, list[str]]:
    res = english()
    raw = rules.score(text, res, 3)
    words: list[str] = []
    for token in rules.tokenize(text, res):
        words.append(token.lower)
        if token.ends_clause:
            words.append(CLAUSE)
    return rule_feature(raw.total), sorted(set(ngrams(words)))


def fit(samples: list[tuple[float, list[str]]], labels: np.ndarray, vocab: dict[str, int], l2: float,
        epochs: int = 300) -> np.ndarray:
    """Full-batch logistic regression (Adam), no intercept; weight 0 is the rule feature."""
    rows, cols, vals = [], [], []
    for i, (rule, grams) in enumerate(samples):
        rows.append(i), cols.append(0), vals.append(rule)
        for gram in grams:
            j = vocab.get(gram)
            if j is not None:
                rows.append(i), cols.append(j), vals.append(1.0)
    rows, cols, vals = np.array(rows), np.array(cols), np.array(vals)
    w = np.zeros(len(vocab) + 1)
    m, v = np.zeros_like(w), np.zeros_like(w)
    n = len(samples)
    for step in range(1, epochs + 1):
        z = np.bincount(rows, weights=vals * w[cols], minlength=n)
        error = 1 / (1 + np.exp(-z)) - labels
        grad = np.bincount(cols, weights=vals * error[rows], minlength=len(w)) / n + l2 * w
        grad[0] -= l2 * w[0]  # the rule feature is not shrunk
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= 0.05 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    return w


def accuracy(w: np.ndarray, samples: list[tuple[float, list[str]]], labels: np.ndarray,
             vocab: dict[str, int]) -> float:
    z = np.array([w[0] * rule + sum(w[vocab[g]] for g in grams if g in vocab) for rule, grams in samples])
    return float(np.mean((z > 0) == (labels > 0.5)))


def prepare(rows: list[tuple[str, float]]) -> tuple[list[tuple[float, list[str]]], np.ndarray]:
    kept = [(text, rating) for text, rating in rows if abs(rating) >= MIN_RATING]
    return [featurize(text) for text, _ in kept], np.array([1.0 if r > 0 else 0.0 for _, r in kept])


def vocabulary(samples: list[tuple[float, list[str]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, grams in samples:
        for gram in grams:
            counts[gram] = counts.get(gram, 0) + 1
    kept = sorted(gram for gram, count in counts.items() if count >= MIN_COUNT)
    return {gram: j for j, gram in enumerate(kept, start=1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the unpacked hutto_ICWSM_2014 folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not (args.folder / "tweets_GroundTruth.txt").is_file():
        print(f"error: {args.folder}: no tweets_GroundTruth.txt (see --help)", file=sys.stderr)
        return 2
    data = {name: prepare(read_set(args.folder, name)) for name in TRAIN_SETS}

    # Choose the L2 strength on a random fifth of the three sets, held out from a fit on the rest.
    all_x = [x for name in TRAIN_SETS for x in data[name][0]]
    all_y = np.concatenate([data[name][1] for name in TRAIN_SETS])
    order = np.random.default_rng(2014).permutation(len(all_x))
    dev, rest = order[: len(order) // 5], order[len(order) // 5:]
    fit_x, fit_y = [all_x[i] for i in rest], all_y[rest]
    dev_x, dev_y = [all_x[i] for i in dev], all_y[dev]
    vocab = vocabulary(fit_x)
    best = None
    for l2 in (3e-5, 1e-4, 3e-4, 1e-3, 3e-3):
        score = accuracy(fit(fit_x, fit_y, vocab, l2), dev_x, dev_y, vocab)
        print(f"l2 {l2:g}: accuracy on the held-out fifth {score:.4f}")
        if best is None or score > best[1]:
            best = (l2, score)
    l2 = best[0]

    vocab = vocabulary(all_x)
    w = fit(all_x, all_y, vocab, l2)
    print(f"final: l2 {l2:g}, {len(all_x)} sentences, {len(vocab)} n-grams, "
          f"training accuracy {accuracy(w, all_x, all_y, vocab):.4f}")
    kept = [(gram, w[j]) for gram, j in vocab.items() if abs(w[j]) >= KEEP_WEIGHT]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(args.out, "wb", mtime=0) as raw:
        lines = [
            "# source: VADER ground-truth sentences (Hutto & Gilbert 2014; tweets, movie-review and NYT "
            "editorial snippets; vaderSentiment 3.3.2 sdist, MIT licence)",
            f"# sentences: {len(all_x)}", f"# l2: {l2:g}", f"# ngrams: {len(kept)}",
            f"{RULE_FEATURE}\t{w[0]:.4f}",
        ] + [f"{gram}\t{weight:.4f}" for gram, weight in sorted(kept)]
        raw.write(("\n".join(lines) + "\n").encode("utf-8"))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(kept)} n-grams kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
