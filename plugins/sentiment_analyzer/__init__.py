"""Sentiment analyzer: polarity, a label and its evidence for the document, each segment, each speaker.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| language | string | auto | auto, pt, en; auto = per segment, the detected language (qualia.plugins._text.language) when confident, else the document's |
| positive_threshold | number -1..1 | 0.05 | polarity at or above this is labelled positive |
| negative_threshold | number -1..1 | -0.05 | polarity at or below this is labelled negative; must not exceed positive_threshold (-32602 otherwise) |
| window | integer 1-1000 | 3 | segments in the timeline's trailing moving average |
| negation_window | integer 0-10 | 3 | words after a negator whose valence is flipped; 0 turns negation off |

Method (`result["methods"][lang]`: name, version, language, citation): a lexicon with VADER's rules
(English: VADER's lexicon; Portuguese: LeIA's), corrected and extended by data/lexicon_<lang>.tsv, with
idioms, clause-bounded negation and bare negation ("não funciona"); in English a logistic regression over
word n-grams and the rule score (data/model_en.tsv.gz) on top. See rules.py, model.py, data/NOTICE.md and
the README's "Sentiment accuracy" for figures.

Neutral means weak evidence: polarity strictly between negative_threshold and positive_threshold (defaults
+-0.05; for the English model that is P(positive) within 0.475..0.525). A text in which nothing carries
sentiment scores exactly 0.

Language: with `language: auto`, each unit is scored in its own detected language when lingua is at least
0.5 confident and the language is pt or en; otherwise in the document's language (Document.language, else
detected on the whole text, else en). A requested language that the text contradicts with confidence, and
units in a language we cannot score (e.g. es), are reported in `warnings`.

Units: the document's segments; when it has none, its sentences (split on line breaks and on . ! ? …
followed by a space), with speaker/start/end null.

Aggregates: the document's polarity is the mean of the units' polarities weighted by their length in words
(a unit with text but no words weighs 1). A speaker's polarity is the plain mean over their segments.
`timeline[k].rolling` is the mean polarity of units k-window+1..k. Floats are rounded to 4 decimals.

Result:
`{"method": {"name", "version", "language", "citation"}, "methods": {lang: method}, "language",
"language_detection": {"language", "confidence", "source"}, "languages": {lang: units}, "warnings": [str],
"thresholds": {"positive", "negative"}, "document": {"polarity", "subjectivity", "label"},
"segments": [{"index", "speaker", "start", "end", "text", "language", "language_confidence", "polarity",
"subjectivity", "label", "evidence": [{"token", "contribution"}]}],
"speakers": {name: {"polarity", "subjectivity", "label", "segments"}},
"timeline": [{"index", "start", "polarity", "rolling"}], "distribution": {"positive", "negative", "neutral"}}`
`subjectivity` is null (neither method estimates it). `evidence`: up to 8 words, idioms or n-grams with
their contribution to the unit's raw score (VADER scale for the rules, log-odds for the English model),
largest first; `language_detection.source` is "requested", "document" or "detected".
"""
from __future__ import annotations

import re
from typing import Any, Iterable, NamedTuple

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugin_sdk.text import tokenize
from qualia.plugins._text.language import Detection, adopt, detect, resolve

from .scorers import Score, get_scorer

PROGRESS_EVERY = 100
# A sentence ends at . ! ? or … (optionally followed by a closing quote or bracket) and a space.
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’»)])\s+")
DEFAULT_LANGUAGE = "en"


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


def full_text(document: Document) -> str:
    if not document.text.strip() and document.segments:
        return "\n".join(segment.text for segment in document.segments)
    return document.text


def document_language(document: Document, requested: str) -> tuple[str, Detection | None, str, list[str]]:
    """The document's language, the detection behind it (None when none was run), its source, and warnings."""
    warnings: list[str] = []
    text = full_text(document)
    if requested != "auto":
        found = detect(text) if text.strip() else None
        if found is not None and not found.weak and found.language != requested:
            warnings.append(f"language {requested!r} was requested but the text reads as {found.language!r} "
                            f"(confidence {found.confidence:.2f}); scored as {requested!r}")
        return requested, found, "requested", warnings
    if document.language != "auto":
        return document.language, None, "document", warnings
    if not text.strip():
        return DEFAULT_LANGUAGE, None, "document", warnings
    found = majority(document) or detect(text)
    if found.weak or not found.supported:
        warnings.append(f"the text reads as {found.language!r} (confidence {found.confidence:.2f}), which is not "
                        f"a supported language or not certain; scored as {DEFAULT_LANGUAGE!r}")
        return DEFAULT_LANGUAGE, found, "detected", warnings
    return found.language, found, "detected", warnings


def majority(document: Document) -> Detection | None:
    """A segmented document's language: the supported language most of its words are confidently in (the
    confidence reported is that share of words), or None when no segment is confidently pt or en."""
    words: dict[str, int] = {}
    for segment in document.segments or ():
        found = detect(segment.text) if segment.text.strip() else None
        if found is not None and not found.weak and found.supported:
            words[found.language] = words.get(found.language, 0) + unit_weight(segment.text)
    if not words:
        return None
    best = max(sorted(words), key=words.__getitem__)
    return Detection(best, round(words[best] / sum(words.values()), 4))


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
        adopt(document)  # segment languages a cleaner recorded: not detected twice
        requested = config["language"]
        language, detection, source, warnings = document_language(document, requested)
        units = units_of(document)
        per_unit = self.unit_languages(units, language, per_segment=requested == "auto", warnings=warnings)
        negation_window = config["negation_window"]
        scores = self.score_all(units, [lang for lang, _ in per_unit], negation_window)
        polarities = [score.polarity for score in scores]
        weights = [unit_weight(unit.text) for unit in units]
        document_polarity = r4(weighted_mean(polarities, weights))
        segments = [
            {
                "index": unit.index,
                "speaker": unit.speaker,
                "start": unit.start,
                "end": unit.end,
                "text": unit.text,
                "language": unit_language,
                "language_confidence": confidence,
                "polarity": r4(score.polarity),
                "subjectivity": None,
                "label": thresholds.label(r4(score.polarity)),
                "evidence": [{"token": token, "contribution": r4(value)} for token, value in score.evidence],
            }
            for unit, score, (unit_language, confidence) in zip(units, scores, per_unit)
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
        languages: dict[str, int] = {}
        for segment in segments:
            distribution[segment["label"]] += 1
            languages[segment["language"]] = languages.get(segment["language"], 0) + 1
        used = sorted(set(languages) | {language})
        if any(lang != language for lang in languages):
            warnings.append("segments were scored in more than one language: "
                            + ", ".join(f"{lang} {count}" for lang, count in sorted(languages.items())))
        return {
            "method": get_scorer(language, negation_window).method(),
            "methods": {lang: get_scorer(lang, negation_window).method() for lang in used},
            "language": language,
            "language_detection": {
                "language": detection.language if detection else language,
                "confidence": detection.confidence if detection else None,
                "source": source,
            },
            "languages": languages,
            "warnings": warnings,
            "thresholds": {"positive": thresholds.positive, "negative": thresholds.negative},
            "document": {"polarity": document_polarity, "subjectivity": None,
                         "label": thresholds.label(document_polarity)},
            "segments": segments,
            "speakers": self.per_speaker(units, scores, thresholds),
            "timeline": timeline,
            "distribution": distribution,
        }

    @staticmethod
    def unit_languages(units: list[Unit], language: str, *, per_segment: bool,
                       warnings: list[str]) -> list[tuple[str, float | None]]:
        """Each unit's scoring language and lingua's confidence in it (None when not detected)."""
        if not per_segment:
            return [(language, None)] * len(units)
        out: list[tuple[str, float | None]] = []
        unsupported: dict[str, int] = {}
        for unit in units:
            if not unit.text.strip():
                out.append((language, None))
                continue
            chosen, found = resolve(unit.text, language)
            if not found.supported and not found.weak:
                unsupported[found.language] = unsupported.get(found.language, 0) + 1
            out.append((chosen, found.confidence if chosen == found.language else None))
        for code, count in sorted(unsupported.items()):
            warnings.append(f"{count} unit(s) read as {code!r}, which has no scorer; scored as {language!r}")
        return out

    def score_all(self, units: list[Unit], languages: list[str], negation_window: int) -> list[Score]:
        scores: list[Score] = []
        for done, (unit, language) in enumerate(zip(units, languages), 1):
            scores.append(get_scorer(language, negation_window).score(unit.text))
            if done % PROGRESS_EVERY == 0:
                self.progress(done, len(units))
        return scores

    @staticmethod
    def per_speaker(units: list[Unit], scores: list[Score], thresholds: Thresholds) -> dict[str, dict[str, Any]]:
        grouped: dict[str, list[Score]] = {}
        for unit, score in zip(units, scores):
            if unit.speaker is not None:
                grouped.setdefault(unit.speaker, []).append(score)
        speakers: dict[str, dict[str, Any]] = {}
        for speaker, own in grouped.items():
            polarity = r4(mean([score.polarity for score in own]))
            speakers[speaker] = {"polarity": polarity, "subjectivity": None, "label": thresholds.label(polarity),
                                 "segments": len(own)}
        return speakers

