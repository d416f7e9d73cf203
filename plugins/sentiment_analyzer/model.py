"""A small linear model over word n-grams, on top of the rule score.

The model is a logistic regression whose features are the rule engine's raw score (scaled) and the
presence of lowercase word unigrams and bigrams (bigrams never cross punctuation). It is stored as a
gzipped TSV of `feature<TAB>weight` (data/model_<lang>.tsv.gz), trained by scripts/train_sentiment_model.py
with numpy; at run time it is a dictionary lookup, no numpy or scikit-learn. Its output z (log-odds of
positive) becomes polarity tanh(z / 2) = P(positive) - P(negative), so 0 means the evidence is balanced, and
a text with no known n-gram and no lexicon word scores exactly 0 (the model has no intercept).
"""
from __future__ import annotations

import gzip
import math
from functools import lru_cache
from typing import Iterable, NamedTuple

from .lexicon import DATA

RULE_FEATURE = "__rules__"  # the weight of the rule engine's raw score
RULE_SCALE = 4.0  # raw scores are divided by this and clipped to -2..2 before weighting
CLAUSE = "|"  # clause boundary marker in the token stream (bigrams do not cross it)


class LinearModel(NamedTuple):
    language: str
    weights: dict[str, float]
    rule_weight: float
    meta: dict[str, str]  # training provenance, from the file's "#" header lines


def rule_feature(total: float) -> float:
    return max(-2.0, min(2.0, total / RULE_SCALE))


def ngrams(words: Iterable[str]) -> list[str]:
    """Unigrams and bigrams of a token stream in which CLAUSE marks punctuation."""
    features: list[str] = []
    previous: str | None = None
    for word in words:
        if word == CLAUSE:
            previous = None
            continue
        features.append(word)
        if previous is not None:
            features.append(f"{previous} {word}")
        previous = word
    return features


@lru_cache(maxsize=2)
def load_model(language: str) -> LinearModel | None:
    path = DATA / f"model_{language}.tsv.gz"
    if not path.is_file():
        return None
    weights: dict[str, float] = {}
    meta: dict[str, str] = {}
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
                continue
            feature, weight = line.split("\t")
            weights[feature] = float(weight)
    rule_weight = weights.pop(RULE_FEATURE, 0.0)
    return LinearModel(language, weights, rule_weight, meta)


def to_polarity(z: float) -> float:
    return math.tanh(z / 2)
