"""Stopword lists (stopwords-iso, shipped inside its package) for pt and en."""
from __future__ import annotations

from functools import lru_cache

__all__ = ["stopwords"]


@lru_cache(maxsize=4)
def stopwords(language: str) -> frozenset[str]:
    import stopwordsiso  # imported on first use: keeps the cold start short

    return frozenset(stopwordsiso.stopwords(language))
