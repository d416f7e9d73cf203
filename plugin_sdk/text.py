"""Text primitives every language-aware plugin needs, kept offline and dependency-free."""
from __future__ import annotations

import re

# Letters only (any script), with inner apostrophes or hyphens: "não", "e-mail", "it's".
WORD_PATTERN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

# The most frequent function words of each language: enough to tell pt from en.
_MARKERS = {
    "pt": frozenset("a o os as de do da dos das que e é não um uma para com por em no na nos nas se mais "
                    "mas como foi eu você ele ela isso está são muito também já então".split()),
    "en": frozenset("the a an of to and is are was were not it in on for with that this you i he she we "
                    "they be have has but so very also what about".split()),
}


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens; accents kept."""
    return WORD_PATTERN.findall(text.lower())


def detect_language(text: str, default: str = "en") -> str:
    """`pt` or `en`, from function-word counts in the first 20,000 characters."""
    tokens = tokenize(text[:20000])
    scores = {lang: sum(token in words for token in tokens) for lang, words in _MARKERS.items()}
    if scores["pt"] == scores["en"]:
        return default
    return max(scores, key=scores.__getitem__)
