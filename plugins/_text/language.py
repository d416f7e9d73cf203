"""Language identification for documents and segments, shared by the bundled analyzers.

Lingua (lingua-language-detector) is used because it is accurate on short
text: a segment such as "péssimo" or "não funciona" has no stopword to go by.
The detector knows the languages the analyzers support (pt, en) plus Spanish,
so a Spanish segment is not forced into Portuguese with false certainty. Its
models are loaded on the first detection, never at import, so a plugin that is
told its language starts as fast as before.

A detection below `MIN_CONFIDENCE` is weak: callers keep the document's (or
the requested) language for that text and say so.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from lingua import LanguageDetector

SUPPORTED = ("pt", "en")
# Languages the detector may answer: the supported ones plus the closest neighbour of each, so that
# text in a language we do not score is reported as such instead of being forced into pt or en.
CANDIDATES = ("pt", "en", "es")
# Lingua's confidence (0..1, summing to 1 over CANDIDATES) below which a detection is treated as weak.
MIN_CONFIDENCE = 0.5
DETECT_CHARS = 20_000  # a document is identified from its first 20,000 characters


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


@lru_cache(maxsize=4096)
def detect(text: str) -> Detection:
    """The most likely language of `text` and lingua's confidence in it (repeated short turns are cached)."""
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
