"""Word frequency analyzer.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| language | string | auto | stopword language: auto, pt, en; auto = each segment's detected language (lingua, qualia.plugins._text.language) when confident, else the document's |
| top_n | integer | 50 | terms returned in total |
| top_n_per_speaker | integer | 20 | terms returned per speaker |
| min_length | integer | 2 | shortest word counted |
| remove_stopwords | boolean | true | drop stopwords-iso words of the language |
| stopwords | list of strings | [] | extra words to drop |
| ngram | integer 1-3 | 1 | n-gram size |
| per_speaker | boolean | true | count per speaker when segments exist |
| lemmas | boolean | false | count lemmas (simplemma: "gostei", "gostou" count as "gostar") |

Result: `language` (the document's), `languages` (segments counted per stopword language), `ngram`, `total_tokens` (word tokens in the text),
`counted_tokens` (after filtering), `unique_terms`, `frequencies` (ranked
`{term, count, relative}`), and `speakers` (same shape per speaker). With
`lemmas`, terms are lemmas (of each segment's language) and a word is dropped
when its form or its lemma is a stopword.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, Iterable

from qualia.plugin_sdk import AnalyzerPlugin, Document
from qualia.plugin_sdk.text import tokenize
from qualia.plugins._text.language import adopt, detect, resolve
from qualia.plugins._text.lemmas import Lemmatizer, lemmatizer


@lru_cache(maxsize=4)
def language_stopwords(language: str) -> frozenset[str]:
    import stopwordsiso  # imported on first use: keeps the plugin's cold start short

    return frozenset(stopwordsiso.stopwords(language))


def ranked(counter: Counter[str], top_n: int) -> list[dict[str, Any]]:
    total = sum(counter.values())
    # Ties broken alphabetically so results are stable across runs.
    items = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top_n]
    return [{"term": term, "count": count, "relative": round(count / total, 6)} for term, count in items]


def count_terms(texts: Iterable[str], n: int, min_length: int, drop: frozenset[str] | set[str],
                lemma: Lemmatizer | None = None) -> tuple[int, Counter[str]]:
    """Word tokens seen, and counts of the kept terms (n-grams never cross a text boundary)."""
    if n == 1:
        # Count everything at C speed, then filter the (far fewer) distinct words.
        tokens = tokenize("\n".join(texts))
        counts = Counter(tokens)
        for word in [w for w in counts if len(w) < min_length or w in drop]:
            del counts[word]
        if lemma is not None:  # lemmatize types, not tokens: forms of one lemma add up
            counts = Counter({w: c for w, c in lemma.counts(counts).items() if w not in drop})
        return len(tokens), counts
    total = 0
    counts = Counter()
    for text in texts:
        tokens = tokenize(text)
        total += len(tokens)
        kept = [t for t in tokens if len(t) >= min_length and t not in drop]
        if lemma is not None:
            kept = [w for w in lemma.words(kept) if w not in drop]
        counts.update(" ".join(kept[i:i + n]) for i in range(len(kept) - n + 1))
    return total, counts


def summary(total_tokens: int, counts: Counter[str], top_n: int) -> dict[str, Any]:
    return {"total_tokens": total_tokens, "counted_tokens": sum(counts.values()), "unique_terms": len(counts),
            "frequencies": ranked(counts, top_n)}


class WordFrequency(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        adopt(document)  # segment languages a cleaner recorded: not detected twice
        language = config["language"]
        per_segment = language == "auto"
        if language == "auto":
            language = document.language if document.language != "auto" else document_language(document)
        extra = {w.lower() for w in config["stopwords"]}
        min_length, n = config["min_length"], config["ngram"]

        def drop_for(lang: str) -> frozenset[str] | set[str]:
            drop: frozenset[str] | set[str] = language_stopwords(lang) if config["remove_stopwords"] else frozenset()
            return set(drop) | extra if extra else drop

        # Tokenize each text once: per-speaker counts add up to the overall ones. Each segment drops the
        # stopwords of its own language, so a code-switched meeting loses "the" and "não" alike.
        groups: dict[tuple[str | None, str], list[str]] = {}
        for speaker, text in self._pieces(document):
            lang = resolve(text, language)[0] if per_segment and document.segments else language
            groups.setdefault((speaker, lang), []).append(text)
        total_tokens, overall = 0, Counter()
        per_speaker: dict[str, tuple[int, Counter[str]]] = {}
        languages: dict[str, int] = {}
        for (speaker, lang), texts in groups.items():
            tokens, counts = count_terms(texts, n, min_length, drop_for(lang),
                                         lemmatizer(lang) if config["lemmas"] else None)
            languages[lang] = languages.get(lang, 0) + len(texts)
            total_tokens += tokens
            overall.update(counts)
            if speaker is not None and config["per_speaker"]:
                seen, merged = per_speaker.get(speaker, (0, Counter()))
                merged.update(counts)
                per_speaker[speaker] = (seen + tokens, merged)
        speakers = {speaker: summary(tokens, counts, config["top_n_per_speaker"])
                    for speaker, (tokens, counts) in per_speaker.items()}
        return {"language": language, "languages": languages, "ngram": n,
                **summary(total_tokens, overall, config["top_n"]), "speakers": speakers}

    @staticmethod
    def _pieces(document: Document) -> Iterable[tuple[str | None, str]]:
        if document.segments:
            return ((segment.speaker, segment.text) for segment in document.segments)
        return ((None, document.text),)


def document_language(document: Document) -> str:
    """The detected language of the whole text when it is confidently pt or en, else en."""
    text = document.text if document.text.strip() else "\n".join(s.text for s in document.segments)
    found = detect(text)
    return found.language if found.supported and not found.weak else "en"
