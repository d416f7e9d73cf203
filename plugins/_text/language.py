"""Language identification for documents and segments, shared by the bundled analyzers.

Lingua (lingua-language-detector) is used because it is accurate on short
text: a segment such as "péssimo" or "não funciona" has no stopword to go by.
The detector knows the languages the analyzers support (pt, en) plus Spanish,
so a Spanish segment is not forced into Portuguese with false certainty. Its
models are loaded on the first detection, never at import, so a plugin that is
told its language starts as fast as before.

A detection below `MIN_CONFIDENCE` is weak: callers keep the document's (or
the requested) language for that text and say so.

Detection is the costliest step of the frequency and sentiment analyzers
(about 85 µs and, once loaded, ~107 MB per process). The cleaner detects each
segment once and records the answers under `metadata.segment_languages`
(`record`); the analyzers that follow `adopt` them, so lingua runs in one
process pool instead of one per analyzer. Answers are keyed by the segment's
text, so a segment edited after the cleaner is simply detected again.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from lingua import LanguageDetector

    from qualia.plugin_sdk import Document

SUPPORTED = ("pt", "en")
# Languages the detector may answer: the supported ones plus the closest neighbour of each, so that
# text in a language we do not score is reported as such instead of being forced into pt or en.
CANDIDATES = ("pt", "en", "es")
# Lingua's confidence (0..1, summing to 1 over CANDIDATES) below which a detection is treated as weak.
MIN_CONFIDENCE = 0.5
DETECT_CHARS = 20_000  # a document is identified from its first 20,000 characters
METADATA_KEY = "segment_languages"  # [[code, confidence], ...], one pair per segment, in order


class Detection(NamedTuple):
    language: str  # ISO 639-1 code among CANDIDATES, or "und" (undetermined: no letters)
    confidence: float  # 0..1, rounded to 4 decimals

    @property
    def weak(self) -> bool:
        return self.language == "und" or self.confidence < MIN_CONFIDENCE

    @property
    def supported(self) -> bool:
        return self.language in SUPPORTED


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    from lingua import IsoCode639_1, LanguageDetectorBuilder  # loaded on first use: keeps cold starts short

    codes = [getattr(IsoCode639_1, code.upper()) for code in CANDIDATES]
    # Models load lazily: text of 120+ characters needs only the trigram models (~0.06 s, ~20 MB); the first
    # short text loads the others (~0.5 s, ~75 MB more). Preloading them all would cost 1.3 s every start.
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


# Detections handed over by an earlier step for the document being analysed (see `adopt`).
_adopted: dict[str, Detection] = {}


def detect(text: str) -> Detection:
    """The most likely language of `text` and lingua's confidence in it."""
    return _adopted.get(text) or _detect(text)


@lru_cache(maxsize=4096)  # repeated short turns ("sim", "ok", "yes") are detected once
def _detect(text: str) -> Detection:
    sample = text[:DETECT_CHARS]
    if not any(char.isalpha() for char in sample):
        return Detection("und", 0.0)
    values = _detector().compute_language_confidence_values(sample)
    if not values:
        return Detection("und", 0.0)
    best = values[0]
    return Detection(best.language.iso_code_639_1.name.lower(), round(best.value, 4))


def resolve(text: str, fallback: str) -> tuple[str, Detection]:
    """The supported language to process `text` in: the detected one when it is confident and supported,
    else `fallback` (the document's or the requested language). Returns it with the raw detection."""
    found = detect(text)
    if found.weak or not found.supported:
        return fallback, found
    return found.language, found


def record(texts: list[str]) -> list[list[str | float]]:
    """The detection of each text as `[code, confidence]`: the value a cleaner stores under METADATA_KEY."""
    return [list(detect(text)) for text in texts]


def adopt(document: Document) -> int:
    """Take the segment languages an earlier step recorded for `document`, replacing those of the previous
    document; returns how many were taken. A list that does not match the segments one to one (another
    step added or dropped segments) is ignored, and those segments are detected here."""
    _adopted.clear()
    recorded = document.metadata.get(METADATA_KEY) if isinstance(document.metadata, dict) else None
    segments = document.segments or []
    if not isinstance(recorded, list) or len(recorded) != len(segments):
        return 0
    for segment, pair in zip(segments, recorded):
        if _is_detection(pair):
            _adopted[segment.text] = Detection(pair[0], float(pair[1]))
    return len(_adopted)


def _is_detection(pair: object) -> bool:
    """A `[code, confidence]` pair as `record` writes it; metadata may come from anywhere, so anything else
    (an unknown code, a confidence outside 0..1) is detected again rather than trusted."""
    if not (isinstance(pair, list) and len(pair) == 2):
        return False
    code, confidence = pair
    return (isinstance(code, str) and code in (*CANDIDATES, "und")
            and isinstance(confidence, (int, float)) and not isinstance(confidence, bool) and 0 <= confidence <= 1)
