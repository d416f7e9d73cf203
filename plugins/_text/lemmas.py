"""Lemmas for pt and en through simplemma (offline: its dictionaries ship inside the wheel).

"gostei", "gostou" and "gostamos" all become "gostar". simplemma loads a
language's dictionary on first use (about 0.8 s for pt, 0.2 s for en), so only
plugins asked for lemmas pay it, once per process. Lookups are cached per word
form: corpora repeat forms, and counting by type is far cheaper than by token.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Callable, Iterable

__all__ = ["Lemmatizer", "lemmatizer"]

METHOD = "simplemma"
CACHE_LIMIT = 500_000  # word forms remembered per language (a 1-million-word corpus has far fewer)
CITATION = ("Barbaresi, A. (2021). Simplemma: a simple multilingual lemmatizer for Python. "
            "https://github.com/adbar/simplemma")


class Lemmatizer:
    """A cached word form -> lemma map for one language."""

    def __init__(self, language: str) -> None:
        import simplemma  # imported on first use: keeps the cold start of plugins that never lemmatize short

        self.language = language
        self._lemmatize: Callable[..., str] = simplemma.lemmatize
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        lemma = self._cache.get(word)
        if lemma is None:
            lemma = self._lemmatize(word, lang=self.language).lower()
            if len(self._cache) >= CACHE_LIMIT:  # a long-lived plugin process must not grow without bound
                self._cache.clear()
            self._cache[word] = lemma
        return lemma

    def words(self, words: Iterable[str]) -> list[str]:
        return [self(word) for word in words]

    def counts(self, counts: Counter[str]) -> Counter[str]:
        """The same counts keyed by lemma: forms of one lemma add up."""
        merged: Counter[str] = Counter()
        for word, count in counts.items():
            merged[self(word)] += count
        return merged


@lru_cache(maxsize=4)
def lemmatizer(language: str) -> Lemmatizer:
    """One Lemmatizer per language and process."""
    return Lemmatizer(language)
