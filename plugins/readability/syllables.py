"""Syllables from hyphenation dictionaries (pyphen ships LibreOffice's hyph_pt_BR and hyph_en_US).

A hyphenation point splits a word between syllables, so points + 1 counts
them. pyphen is asked for breaks right after the first and before the last
letter too (left = right = 1), which hyphenation for print would forbid
("a-ção"). Dictionaries leave out some splits that are syllable breaks but bad
line breaks, mostly vowel hiatus ("reu-ni-ão" for re-u-ni-ão, "idea" as one):
counts can be a little low, never a vowel-count guess. With left = right = 1
a dictionary can also split off a lone consonant ("it-s", "p-neu"): a piece
without a vowel letter is not a syllable and joins its neighbour.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

import pyphen

DICTIONARIES = {"pt": "pt_BR", "en": "en_US"}
VERSION = getattr(pyphen, "VERSION", getattr(pyphen, "__version__", ""))
VOWELS = frozenset("aeiouy")


def has_vowel(piece: str) -> bool:
    """True when a letter of `piece` is a vowel once its accents are taken off (ã, é, ô, ü ...)."""
    return any(unicodedata.normalize("NFD", ch)[0] in VOWELS for ch in piece)


@lru_cache(maxsize=4)
def dictionary(language: str) -> pyphen.Pyphen:
    return pyphen.Pyphen(lang=DICTIONARIES[language], left=1, right=1)


class Counter:
    """Syllables per word for one language, cached per word form."""

    def __init__(self, language: str) -> None:
        self.hyphenation = dictionary(language)
        self._cache: dict[str, int] = {}

    def __call__(self, word: str) -> int:
        count = self._cache.get(word)
        if count is None:
            parts = [part for part in word.replace("'", "").replace("’", "").split("-") if part]
            count = max(1, sum(self._syllables(part) for part in parts))
            if len(self._cache) < 200_000:
                self._cache[word] = count
        return count

    def _syllables(self, part: str) -> int:
        cuts = [0, *self.hyphenation.positions(part), len(part)]
        return sum(1 for start, end in zip(cuts, cuts[1:]) if has_vowel(part[start:end]))


@lru_cache(maxsize=4)
def counter(language: str) -> Counter:
    return Counter(language)
