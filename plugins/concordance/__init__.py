"""Concordance (keyword in context, KWIC) analyzer.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| word | string | (required) | a word or phrase (`match = word`), or a regular expression (`match = regex`) |
| match | string | word | word: whole words in a row, case-insensitive; regex: Python `re` syntax searched in the text |
| lemmas | boolean | false | each query word matches every form of its lemma (simplemma, pt/en) |
| language | string | auto | lemma language: auto, pt, en |
| case_sensitive | boolean | false | tell upper from lower case |
| left, right | integer 0-50 | 5, 5 | words of context on each side |
| sort | string | position | position, left (L1, L2, ...), right (R1, R2, ...), node |
| max_lines | integer | 1000 | lines returned; `hits` counts all |
| per_speaker | boolean | true | hits per speaker when the document has segments |

Context never crosses a segment: in a transcript it is what that speaker said
in that turn. Left and right context are the original text (case and
punctuation kept) from the first context word to the node and from the node to
the last context word.

Result: `query` (what was searched, how), `language`, `hits`, `words` (word
tokens in the document), `per_1000_words`, `lines` (the table: `segment`,
`speaker`, `start`, `left`, `node`, `right`, and `offset`, the node's character
offset in its segment), `truncated` (lines were cut at
`max_lines`), and `speakers` (`{hits, words, per_1000_words}` by speaker). The
`kwic_view` visualizer draws the lines as an HTML page.

Errors (-32602): an empty `word`, a query with no word in it, an invalid
regular expression, `lemmas` with `match = regex`.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Any, Callable

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugin_sdk.text import WORD_PATTERN
from qualia.plugins._text.lemmas import lemmatizer
from qualia.plugins._text.tokens import Piece, Span, pieces, resolve_language, spans, tokenize

class Query:
    """A compiled search: finds (start, end) character ranges of hits in a piece's text."""

    def __init__(self, config: dict[str, Any], language: str) -> None:
        self.word: str = config["word"].strip()
        if not self.word:
            raise InputError("concordance needs `word`: the word, phrase or pattern to look for", {"key": "word"})
        self.match: str = config["match"]
        self.lemmas: bool = config["lemmas"]
        self.case_sensitive: bool = config["case_sensitive"]
        if self.match == "regex":
            if self.lemmas:
                raise InputError("`lemmas` applies to match = word, not to a regular expression", {"key": "lemmas"})
            try:
                self.pattern = re.compile(self.word, 0 if self.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                raise InputError(f"`word` is not a valid regular expression: {exc}", {"key": "word"}) from None
            return
        self.key: Callable[[str], str] = lemmatizer(language) if self.lemmas else (lambda w: w)
        words = [self._form(self.word, s) for s in spans(self.word)]
        if not words:
            raise InputError(f"`word` {self.word!r} holds no word to look for", {"key": "word"})
        self.keys = [self.key(w) for w in words]

    def _form(self, text: str, span: Span) -> str:
        return text[span.start:span.end] if self.case_sensitive else span.word

    def hits(self, text: str) -> tuple[list[tuple[int, int]], list[Span]]:
        """(start, end) of each hit in `text`, and the text's word spans (built only when there is a hit)."""
        if self.match == "regex":
            found = [(m.start(), m.end()) for m in self.pattern.finditer(text) if m.end() > m.start()]
            return found, spans(text) if found else []
        first = self.keys[0]
        if not self.lemmas and first not in (text if self.case_sensitive else text.lower()):
            return [], []  # most pieces: the word is not even a substring
        words = spans(text)
        if self.lemmas or self.case_sensitive:
            keys = [self.key(self._form(text, s)) for s in words]
        else:
            keys = [s.word for s in words]
        n, i, found = len(self.keys), -1, []
        while True:
            try:
                i = keys.index(first, i + 1)  # jump to the next candidate at C speed
            except ValueError:
                return found, words
            if keys[i:i + n] == self.keys:
                found.append((words[i].start, words[i + n - 1].end))

    def describe(self) -> dict[str, Any]:
        return {"word": self.word, "match": self.match, "lemmas": self.lemmas, "case_sensitive": self.case_sensitive,
                **({"lemma_keys": self.keys} if self.match == "word" and self.lemmas else {})}


class Words:
    """A piece's word spans with their start and end offsets, for finding the context of a hit."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.starts = [s.start for s in spans]
        self.ends = [s.end for s in spans]


def context(text: str, words: Words, start: int, end: int, left: int, right: int) -> tuple[str, str]:
    """The original text of up to `left` words before [start, end) and `right` words after it."""
    ended = bisect_right(words.ends, start)  # words ending at or before `start`
    before = words.spans[max(0, ended - left):ended] if left else []
    following = bisect_left(words.starts, end)  # the first word starting at or after `end`
    after = words.spans[following:following + right] if right else []
    left_text = text[before[0].start:start] if before else ""
    right_text = text[end:after[-1].end] if after else ""
    return " ".join(left_text.split()), " ".join(right_text.split())


def sort_key(sort: str) -> Callable[[dict[str, Any]], Any]:
    """Lines by position, by the left context read outwards (L1, L2, ...), by the right (R1, R2, ...), or node."""
    if sort == "left":
        return lambda line: (tokenize(line["left"])[::-1], line["_order"])
    if sort == "right":
        return lambda line: (tokenize(line["right"]), line["_order"])
    if sort == "node":
        return lambda line: (line["node"].lower(), line["_order"])
    return lambda line: line["_order"]


def rate(hits: int, words: int) -> float:
    return round(hits * 1000 / words, 3) if words else 0.0


class Concordance(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        language = resolve_language(config["language"], document)
        query = Query(config, language)
        lines: list[dict[str, Any]] = []
        words_by_speaker: dict[str, int] = {}
        hits_by_speaker: dict[str, int] = {}
        total_words = 0
        for piece in pieces(document):
            count = len(WORD_PATTERN.findall(piece.text))  # the same words as spans(), at C speed
            total_words += count
            found, words = query.hits(piece.text)
            if found:
                indexed = Words(words)
                lines.extend(self._line(piece, indexed, start, end, config, len(lines) + number)
                             for number, (start, end) in enumerate(found))
            if piece.speaker is not None:
                words_by_speaker[piece.speaker] = words_by_speaker.get(piece.speaker, 0) + count
                hits_by_speaker[piece.speaker] = hits_by_speaker.get(piece.speaker, 0) + len(found)
        lines.sort(key=sort_key(config["sort"]))
        shown = lines[: config["max_lines"]]
        for line in shown:
            del line["_order"]
        speakers = {name: {"hits": hits_by_speaker[name], "words": words,
                           "per_1000_words": rate(hits_by_speaker[name], words)}
                    for name, words in words_by_speaker.items()} if config["per_speaker"] else {}
        return {"query": query.describe(), "language": language, "hits": len(lines), "words": total_words,
                "per_1000_words": rate(len(lines), total_words), "sort": config["sort"],
                "truncated": len(lines) > len(shown), "lines": shown, "speakers": speakers}

    @staticmethod
    def _line(piece: Piece, words: Words, start: int, end: int, config: dict[str, Any],
              order: int) -> dict[str, Any]:
        left, right = context(piece.text, words, start, end, config["left"], config["right"])
        return {"segment": piece.index, "speaker": piece.speaker, "start": piece.start, "left": left,
                "node": " ".join(piece.text[start:end].split()), "right": right, "offset": start, "_order": order}
