"""Collocations analyzer: what a node word or phrase keeps company with, and the bigrams of the text.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| word | string | "" | the node: a word or a phrase ("muito bom"); empty reports bigrams only |
| lemmas | boolean | false | node, collocates and bigrams as lemmas (simplemma, pt/en): "gostei" is "gostar" |
| left, right | integer 0-20 | 5, 5 | the window around the node, in words from its edges (never across a segment) |
| min_frequency | integer | 2 | least co-occurrences (collocates) or occurrences (bigrams) reported |
| sort_by | string | log_dice | log_dice, mi, t_score, log_likelihood or frequency |
| top_n / top_n_per_speaker | integer | 50 / 20 | rows returned in total / per speaker |
| bigrams | boolean | true | also the significant bigrams of the whole text |
| alpha | number | 0.05 | significance of a bigram (log-likelihood p-value, not corrected) |
| remove_stopwords | boolean | true | stopwords are not reported as collocates or in bigrams (they still count) |
| language | string | auto | stopword and lemma language |
| per_speaker | boolean | true | the node's collocates per speaker |

Measures (see `measures.py` for the table): co-occurrence frequency O11,
expected E11, MI = log2(O11/E11) (Church & Hanks 1990), t-score =
(O11 - E11)/sqrt(O11) (Church et al. 1991), log-likelihood G2 over the four
cells (Dunning 1993) with its chi-square p-value, and log-Dice = 14 +
log2(2 O11 / (f_node + f_collocate)) (Rychlý 2008). For the window, the
table counts the positions around the node once each (overlapping windows do
not double count) against every other position that is not the node.

A phrase node is its words in a row within one segment (every match counts,
as in concordance); its window runs `left` words before its first word and
`right` after its last, and the positions it covers are left out of the
table, so a collocate's frequency (C1) is its frequency outside the node.
With `lemmas`, every word is replaced by its lemma before anything is
counted (node, window, bigrams), and a lemma is a stopword when it is one or
is the lemma of one.

Result: `language`, `word` (the node as matched: lowercased, or its
lemmas), `lemmas`, `window`, `tokens`, `node_frequency` (occurrences),
`collocates` (ranked rows), `bigrams` (significant ones, by log-likelihood),
`speakers` (`{tokens, node_frequency, collocates}` by speaker), `method`.

Errors (-32602): a `word` with no word in it ("?!").
"""
from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any, NamedTuple

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugins._text.lemmas import METHOD as LEMMA_METHOD
from qualia.plugins._text.lemmas import Lemmatizer, lemmatizer
from qualia.plugins._text.stopwords import stopwords
from qualia.plugins._text.tokens import pieces, resolve_language, tokenize

from .measures import Scores, score

DIGITS = 4


def rounded(scores: Scores) -> dict[str, Any]:
    return {"frequency": scores.frequency, "expected": round(scores.expected, DIGITS), "mi": round(scores.mi, DIGITS),
            "t_score": round(scores.t_score, DIGITS), "log_likelihood": round(scores.log_likelihood, DIGITS),
            "p": float(f"{scores.p:.4g}"), "log_dice": round(scores.log_dice, DIGITS)}


class Hits(NamedTuple):
    """The node in one text: its occurrences, the words at the positions it covers, the words around it."""

    occurrences: int
    covered: Counter[str]
    window: Counter[str]


def starts(text: list[str], node: tuple[str, ...]) -> list[int]:
    """Where `node` (one word or a phrase) begins in `text`; every match counts, as in concordance."""
    first, n, found, i = node[0], len(node), [], -1
    while True:
        try:
            i = text.index(first, i + 1)  # jump to the next candidate at C speed
        except ValueError:
            return found
        if n == 1 or tuple(text[i:i + n]) == node:
            found.append(i)


def node_hits(text: list[str], node: tuple[str, ...], left: int, right: int) -> Hits | None:
    """The node's occurrences in one text and the words in its window: `left` words before each occurrence's
    first word and `right` after its last; each position once, the positions of the node itself left out."""
    if node[0] not in text:  # most segments: a C-speed membership test
        return None
    found = starts(text, node)
    if not found:
        return None
    n, covered, positions = len(node), set(), set()
    for i in found:
        covered.update(range(i, i + n))
        positions.update(range(max(0, i - left), i))
        positions.update(range(i + n, min(len(text), i + n + right)))
    return Hits(len(found), Counter(text[i] for i in covered),
                Counter(text[i] for i in positions if i not in covered))


def collocates(texts: list[list[str]], hits_per_text: list[Hits | None], min_frequency: int, skip: frozenset[str]
               ) -> tuple[int, int, list[dict[str, Any]]]:
    """Tokens, node frequency and the unranked collocate rows of the node in `texts` (token lists), given each
    text's hits.

    The 2x2 table (measures.py) is over the positions the node does not cover: N = tokens - covered
    positions, R1 = window positions, C1 = the collocate's frequency outside the node (for a one-word node,
    simply its frequency), O11 = its frequency in the window.
    """
    tokens = Counter(chain.from_iterable(texts))
    f_node = 0
    covered: Counter[str] = Counter()
    in_window: Counter[str] = Counter()
    for hits in hits_per_text:
        if hits:
            f_node += hits.occurrences
            covered.update(hits.covered)
            in_window.update(hits.window)
    total = sum(tokens.values())
    n = total - sum(covered.values())  # every position that is not the node
    r1 = sum(in_window.values())
    rows = []
    for word, o11 in in_window.items():
        if o11 < min_frequency or word in skip:
            continue
        c1 = tokens[word] - covered[word]
        rows.append({"collocate": word, "collocate_frequency": c1, **rounded(score(o11, r1, c1, n, f_node, c1))})
    return total, f_node, rows


def bigrams(texts: list[list[str]], min_frequency: int, alpha: float, skip: frozenset[str]) -> list[dict[str, Any]]:
    """Adjacent pairs (never across a segment) that occur more often than expected, p < alpha."""
    pairs: Counter[tuple[str, str]] = Counter()
    for text in texts:
        pairs.update(zip(text, text[1:]))
    n = sum(pairs.values())
    firsts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for (first, second), count in pairs.items():
        firsts[first] += count
        seconds[second] += count
    rows = []
    for (first, second), o11 in pairs.items():
        if o11 < min_frequency or first in skip or second in skip:
            continue
        scores = score(o11, firsts[first], seconds[second], n, firsts[first], seconds[second])
        if scores.frequency > scores.expected and scores.p < alpha:
            rows.append({"bigram": f"{first} {second}", **rounded(scores)})
    rows.sort(key=lambda row: (-row["log_likelihood"], row["bigram"]))
    return rows


def ranked(rows: list[dict[str, Any]], by: str, top_n: int) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (-row[by], row["collocate"]))[:top_n]


METHOD = ("window co-occurrence as a 2x2 table (Evert 2008); MI (Church & Hanks 1990), t-score "
          "(Church et al. 1991), log-likelihood G2 (Dunning 1993), log-Dice (Rychly 2008)")


def read_texts(document: Document, lemma: Lemmatizer | None) -> tuple[list[list[str]], dict[str, list[int]]]:
    """Each segment's words (lemmas with `lemmas`), and which of them each speaker said: windows and bigrams
    never cross a segment, and per-speaker tables reuse the same texts."""
    texts: list[list[str]] = []
    by_speaker: dict[str, list[int]] = {}
    for piece in pieces(document):
        words = tokenize(piece.text)
        texts.append(lemma.words(words) if lemma else words)
        if piece.speaker is not None:
            by_speaker.setdefault(piece.speaker, []).append(len(texts) - 1)
    return texts, by_speaker


def skipped_words(language: str, remove_stopwords: bool, lemma: Lemmatizer | None) -> frozenset[str]:
    """Words never reported; with lemmas, a lemma is left out when it is a stopword or the lemma of one."""
    skip = stopwords(language) if remove_stopwords else frozenset()
    if lemma is not None and skip:
        skip = skip | frozenset(lemma.words(skip))
    return skip


class Collocations(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        language = resolve_language(config["language"], document)
        lemma = lemmatizer(language) if config["lemmas"] else None
        node = tuple(lemma.words(tokenize(config["word"])) if lemma else tokenize(config["word"]))
        if config["word"].strip() and not node:
            raise InputError(f"`word` {config['word']!r} holds no word to look for", {"key": "word"})
        skip = skipped_words(language, config["remove_stopwords"], lemma)
        left, right, minimum, by = config["left"], config["right"], config["min_frequency"], config["sort_by"]
        texts, by_speaker = read_texts(document, lemma)
        hits = [node_hits(text, node, left, right) for text in texts] if node else []
        result: dict[str, Any] = {"language": language, "word": " ".join(node), "lemmas": lemma is not None,
                                  "window": {"left": left, "right": right},
                                  "min_frequency": minimum, "sort_by": by, "tokens": sum(map(len, texts))}
        if node:
            _, f_node, rows = collocates(texts, hits, minimum, skip)
            result["node_frequency"] = f_node
            result["collocates"] = ranked(rows, by, config["top_n"])
        if config["bigrams"]:
            result["bigrams"] = bigrams(texts, minimum, config["alpha"], skip)[: config["top_n"]]
        if node and config["per_speaker"]:
            result["speakers"] = {}
            for speaker, indexes in by_speaker.items():
                tokens, f_node, rows = collocates([texts[i] for i in indexes], [hits[i] for i in indexes],
                                                  minimum, skip)
                result["speakers"][speaker] = {"tokens": tokens, "node_frequency": f_node,
                                               "collocates": ranked(rows, by, config["top_n_per_speaker"])}
        result["method"] = METHOD + (f"; lemmas by {LEMMA_METHOD} ({language})" if lemma is not None else "")
        return result
