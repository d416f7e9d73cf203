"""Word frequency analyzer.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| language | string | auto | stopword language: auto, pt, en |
| top_n | integer | 50 | terms returned in total |
| top_n_per_speaker | integer | 20 | terms returned per speaker |
| min_length | integer | 2 | shortest word counted |
| remove_stopwords | boolean | true | drop stopwords-iso words of the language |
| stopwords | list of strings | [] | extra words to drop |
| ngram | integer 1-3 | 1 | n-gram size |
| per_speaker | boolean | true | count per speaker when segments exist |

Result: `language`, `ngram`, `total_tokens` (word tokens in the text),
`counted_tokens` (after filtering), `unique_terms`, `frequencies` (ranked
`{term, count, relative}`), and `speakers` (same shape per speaker).
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, Iterable

from plugin_sdk import AnalyzerPlugin, Document
from plugin_sdk.text import detect_language, tokenize


@lru_cache(maxsize=4)
def language_stopwords(language: str) -> frozenset[str]:
    import stopwordsiso  # imported on first use: keeps the plugin's cold start short

    return frozenset(stopwordsiso.stopwords(language))


def ranked(counter: Counter[str], top_n: int) -> list[dict[str, Any]]:
    total = sum(counter.values())
    # Ties broken alphabetically so results are stable across runs.
    items = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top_n]
    return [{"term": term, "count": count, "relative": round(count / total, 6)} for term, count in items]


class WordFrequency(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        language = config["language"]
        if language == "auto":
            language = document.language if document.language != "auto" else detect_language(document.text)
        drop = set(config["stopwords"]) | {w.lower() for w in config["stopwords"]}
        if config["remove_stopwords"]:
            drop |= language_stopwords(language)
        min_length, n = config["min_length"], config["ngram"]

        def terms(text: str) -> tuple[int, list[str]]:
            tokens = tokenize(text)
            kept = [t for t in tokens if len(t) >= min_length and t not in drop]
            if n == 1:
                return len(tokens), kept
            return len(tokens), [" ".join(kept[i:i + n]) for i in range(len(kept) - n + 1)]

        pieces: Iterable[tuple[str | None, str]]
        if document.segments:
            pieces = ((s.speaker, s.text) for s in document.segments)
        else:
            pieces = ((None, document.text),)
        total_tokens = 0
        overall: Counter[str] = Counter()
        by_speaker: dict[str, Counter[str]] = {}
        tokens_by_speaker: Counter[str] = Counter()
        for speaker, text in pieces:
            token_count, found = terms(text)
            total_tokens += token_count
            overall.update(found)
            if speaker is not None and config["per_speaker"]:
                by_speaker.setdefault(speaker, Counter()).update(found)
                tokens_by_speaker[speaker] += token_count
        return {
            "language": language,
            "ngram": n,
            "total_tokens": total_tokens,
            "counted_tokens": sum(overall.values()),
            "unique_terms": len(overall),
            "frequencies": ranked(overall, config["top_n"]),
            "speakers": {
                speaker: {
                    "total_tokens": tokens_by_speaker[speaker],
                    "counted_tokens": sum(counter.values()),
                    "unique_terms": len(counter),
                    "frequencies": ranked(counter, config["top_n_per_speaker"]),
                }
                for speaker, counter in by_speaker.items()
            },
        }
