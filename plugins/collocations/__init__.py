"""Collocations analyzer: what a node word keeps company with, and the bigrams of the text.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| word | string | "" | the node word; empty reports bigrams only |
| left, right | integer 0-20 | 5, 5 | the window around the node, in words (never across a segment) |
| min_frequency | integer | 2 | least co-occurrences (collocates) or occurrences (bigrams) reported |
| sort_by | string | log_dice | log_dice, mi, t_score, log_likelihood or frequency |
| top_n / top_n_per_speaker | integer | 50 / 20 | rows returned in total / per speaker |
| bigrams | boolean | true | also the significant bigrams of the whole text |
| alpha | number | 0.05 | significance of a bigram (log-likelihood p-value, not corrected) |
| remove_stopwords | boolean | true | stopwords are not reported as collocates or in bigrams (they still count) |
| language | string | auto | stopword language |
| per_speaker | boolean | true | the node's collocates per speaker |

Measures (see `measures.py` for the table): co-occurrence frequency O11,
expected E11, MI = log2(O11/E11) (Church & Hanks 1990), t-score =
(O11 - E11)/sqrt(O11) (Church et al. 1991), log-likelihood G2 over the four
cells (Dunning 1993) with its chi-square p-value, and log-Dice = 14 +
log2(2 O11 / (f_node + f_collocate)) (Rychlý 2008). For the window, the
table counts the positions around the node once each (overlapping windows do
not double count) against every other position that is not the node.

Result: `language`, `word`, `window`, `tokens`, `node_frequency`,
`collocates` (ranked rows), `bigrams` (significant ones, by log-likelihood),
`speakers` (`{tokens, node_frequency, collocates}` by speaker), `method`.

Errors (-32602): a `word` of more than one word.
"""
from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugins._text.stopwords import stopwords
from qualia.plugins._text.tokens import pieces, resolve_language, tokenize

from .measures import Scores, score

DIGITS = 4


def rounded(scores: Scores) -> dict[str, Any]:
    return {"frequency": scores.frequency, "expected": round(scores.expected, DIGITS), "mi": round(scores.mi, DIGITS),
            "t_score": round(scores.t_score, DIGITS), "log_likelihood": round(scores.log_likelihood, DIGITS),
            "p": float(f"{scores.p:.4g}"), "log_dice": round(scores.log_dice, DIGITS)}


def window(text: list[str], node: str, left: int, right: int) -> Counter[str] | None:
    """Words at the positions around `node` in one text (each position once, the node left out)."""
    if node not in text:  # most segments: a C-speed membership test
        return None
    positions: set[int] = set()
    for i, word in enumerate(text):
        if word == node:
            positions.update(range(max(0, i - left), min(len(text), i + right + 1)))
    return Counter(text[i] for i in positions if text[i] != node)


def collocates(texts: list[list[str]], windows: list[Counter[str] | None], node: str, min_frequency: int,
               skip: frozenset[str]) -> tuple[int, int, list[dict[str, Any]]]:
    """Tokens, node frequency and the unranked collocate rows of `node` in `texts` (token lists), given each
    text's window counts."""
    tokens = Counter(chain.from_iterable(texts))
    f_node = tokens[node]
    in_window: Counter[str] = Counter()
    for counts in windows:
        if counts:
            in_window.update(counts)
    total = sum(tokens.values())
    n = total - f_node  # every position that is not the node
    r1 = sum(in_window.values())
    rows = []
    for word, o11 in in_window.items():
        if o11 < min_frequency or word in skip:
            continue
        rows.append({"collocate": word, "collocate_frequency": tokens[word],
                     **rounded(score(o11, r1, tokens[word], n, f_node, tokens[word]))})
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


class Collocations(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        node_words = tokenize(config["word"])
        if len(node_words) > 1:
            raise InputError(f"`word` must be one word, got {config['word']!r} (use concordance for phrases)",
                             {"key": "word"})
        node = node_words[0] if node_words else ""
        language = resolve_language(config["language"], document)
        skip = stopwords(language) if config["remove_stopwords"] else frozenset()
        left, right, minimum, by = config["left"], config["right"], config["min_frequency"], config["sort_by"]
        by_speaker: dict[str, list[int]] = {}
        texts = []
        for piece in pieces(document):
            texts.append(tokenize(piece.text))
            if piece.speaker is not None:
                by_speaker.setdefault(piece.speaker, []).append(len(texts) - 1)
        windows = [window(text, node, left, right) for text in texts] if node else []
        result: dict[str, Any] = {"language": language, "word": node, "window": {"left": left, "right": right},
                                  "min_frequency": minimum, "sort_by": by, "tokens": sum(map(len, texts))}
        if node:
            _, f_node, rows = collocates(texts, windows, node, minimum, skip)
            result["node_frequency"] = f_node
            result["collocates"] = ranked(rows, by, config["top_n"])
        if config["bigrams"]:
            result["bigrams"] = bigrams(texts, minimum, config["alpha"], skip)[: config["top_n"]]
        if node and config["per_speaker"]:
            result["speakers"] = {}
            for speaker, indexes in by_speaker.items():
                tokens, f_node, rows = collocates([texts[i] for i in indexes], [windows[i] for i in indexes], node,
                                                  minimum, skip)
                result["speakers"][speaker] = {"tokens": tokens, "node_frequency": f_node,
                                               "collocates": ranked(rows, by, config["top_n_per_speaker"])}
        result["method"] = ("window co-occurrence as a 2x2 table (Evert 2008); MI (Church & Hanks 1990), t-score "
                            "(Church et al. 1991), log-likelihood G2 (Dunning 1993), log-Dice (Rychly 2008)")
        return result
