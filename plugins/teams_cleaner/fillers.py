"""Filler-word removal that leaves readable text behind.

Two kinds of filler:

- sounds (`hum`, `né`, `um`, `uh`, `hmm`, ...) are removed wherever they stand
  as a whole word; stretched spellings ("hummm", "ahhh") count too;
- words that are also ordinary words (`tipo`, `sabe`, `like`, `you know`)
  are removed only when set off by punctuation (", tipo," / "Like, ..."), so
  "que tipo de plano" and "I like it" are kept.

The lists are per language because a filler in one is a word in the other
("um" is the Portuguese article). Removal marks each filler with a sentinel
first and then tidies the punctuation around the marks:

    ", hum,"            -> ","        "e, tipo, as"  -> "e as" (after a conjunction)
    "confusa, né."      -> "confusa." "Hum, vamos"   -> "Vamos" (capitalised only if the filler was)

Text never contains the sentinels: NUL is refused as input and other control
characters are turned into spaces before this runs.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

SOUNDS: dict[str, tuple[str, ...]] = {
    "pt": (r"h+u+m+", r"h+m+", r"a+h+n*", r"e+h+", r"u+h+m+", r"né"),
    "en": (r"u+m+", r"u+h+", r"u+h+m+", r"h+m+", r"a+h+", r"erm", r"er"),
    "auto": (r"h+m+", r"a+h+"),  # language undecided: only what is a filler in both
}
DISCOURSE: dict[str, tuple[str, ...]] = {
    "pt": (r"tipo\s+assim", r"tipo", r"sabe", r"entendeu"),
    "en": (r"you\s+know", r"like"),
    "auto": (),
}

_LOW, _CAP, _UPPER_NEXT = "\x00", "\x01", "\x02"
_MARK = "[\x00\x01]"
_WORD_EDGE_BEFORE = r"(?<![\w'’\-])"
_WORD_EDGE_AFTER = r"(?![\w'’\-])"
_RUNS = re.compile(rf"({_MARK})(?:\s*,?\s*{_MARK})+")
_AT_SENTENCE_START = re.compile(rf"(?:^|(?<=[.!?…]))(\s*)({_MARK})[\s,;:.!?…]*")
_BETWEEN_COMMAS = re.compile(rf",\s*{_MARK}\s*,")
# "e, tipo, as vendas" -> "e as vendas": the commas were only there for the filler.
_AFTER_CONJUNCTION = re.compile(
    rf"{_WORD_EDGE_BEFORE}(e|mas|ou|que|porque|and|but|or|so|because),\s*{_MARK}\s*,", re.IGNORECASE)
_BEFORE_END = re.compile(rf",?\s*{_MARK}\s*(?=[.!?…;:]|$)")
_ANYWHERE = re.compile(rf"\s*{_MARK}\s*,?\s*")
_CAPITALISE = re.compile(r"\x02(\W*?)(\w)")
_SPACES = re.compile(r"[ \t]{2,}")
_LEADING_PUNCTUATION = re.compile(r"^[\s,;:]+")


def _literal(word: str) -> str:
    return r"\s+".join(re.escape(part) for part in word.split())


class FillerRemover:
    def __init__(self, sounds: Iterable[str], discourse: Iterable[str]) -> None:
        sounds, discourse = list(sounds), list(discourse)
        # Longest alternatives first, so "tipo assim" wins over "tipo".
        sounds.sort(key=len, reverse=True)
        discourse.sort(key=len, reverse=True)
        self._sounds = (
            re.compile(rf"{_WORD_EDGE_BEFORE}(?:{'|'.join(sounds)}){_WORD_EDGE_AFTER}", re.IGNORECASE)
            if sounds else None
        )
        self._discourse = (
            re.compile(rf"(?P<lead>^|[,.!?…;])(?P<space>\s*)(?P<word>{'|'.join(discourse)})(?=\s*(?:[,.!?…;]|$))",
                       re.IGNORECASE)
            if discourse else None
        )

    @classmethod
    def for_language(cls, language: str, extra: Iterable[str] = (), replace: bool = False) -> "FillerRemover":
        """Defaults of `language` plus `extra` (removed wherever they stand), or only `extra` if `replace`."""
        extra = [_literal(word) for word in extra if word.strip()]
        if replace:
            return cls(extra, ())
        return cls([*SOUNDS.get(language, SOUNDS["auto"]), *extra], DISCOURSE.get(language, ()))

    def __call__(self, text: str) -> tuple[str, int]:
        """The text without fillers, and how many were removed."""
        count = 0

        def mark(word: str) -> str:
            nonlocal count
            count += 1
            return _CAP if word[:1].isupper() else _LOW

        if self._discourse is not None:
            text = self._discourse.sub(lambda m: m["lead"] + m["space"] + mark(m["word"]), text)
        if self._sounds is not None:
            text = self._sounds.sub(lambda m: mark(m[0]), text)
        if not count:
            return text, 0
        return _tidy(text), count


def _tidy(text: str) -> str:
    text = _RUNS.sub(lambda m: m[1], text)
    text = _AT_SENTENCE_START.sub(lambda m: m[1] + (_UPPER_NEXT if m[2] == _CAP else ""), text)
    text = _AFTER_CONJUNCTION.sub(lambda m: m[1], text)
    text = _BETWEEN_COMMAS.sub(",", text)
    text = _BEFORE_END.sub("", text)
    text = _ANYWHERE.sub(" ", text)
    text = _CAPITALISE.sub(lambda m: m[1] + m[2].upper(), text)
    text = text.replace(_UPPER_NEXT, "")
    text = _SPACES.sub(" ", text)
    return _LEADING_PUNCTUATION.sub("", text).strip()
