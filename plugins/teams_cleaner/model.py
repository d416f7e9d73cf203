"""What every format parser returns, and the small text helpers they share.

Parsers only split a transcript into raw segments and report the lines they
could not use; all cleaning happens later in `pipeline`, so each parser stays
a plain function from lines to `Parsed`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

Line = tuple[int, str]
"""A 1-based line number (a paragraph number for .docx files) and its text."""


@dataclass
class RawSegment:
    """One utterance as parsed; `line` says where it started, for the quality report."""

    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None
    line: int = 0
    duration: float | None = None  # filled by the pipeline: known or estimated talk time


@dataclass
class BadLine:
    """A non-empty line a parser could not use."""

    line: int
    content: str
    reason: str


@dataclass
class Parsed:
    segments: list[RawSegment] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)  # title/date lines above a Teams .docx transcript


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CLOCK = re.compile(r"(?:([0-9]{1,3}):)?([0-9]{1,3}):([0-9]{2})(?:[.,]([0-9]{1,3}))?")
# Control characters other than tab/newline/carriage return/form feed.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_NAME = re.compile(r"[^\W\d_][\w'’.()\- ]{0,59}")


def numbered_lines(text: str) -> list[Line]:
    """Split on \\n, \\r\\n or \\r only, so line numbers match what an editor shows."""
    return list(enumerate(_LINE_BREAK.split(text), start=1))


def parse_clock(value: str) -> float | None:
    """Seconds from `h:mm:ss`, `mm:ss` or `hh:mm:ss.mmm` (`,` also accepted); None if malformed."""
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        return None
    total = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    if fraction:
        total += int(fraction) / 10 ** len(fraction)
    return round(total, 3)


def looks_like_name(value: str) -> bool:
    """A speaker label: starts with a letter, at most six words, no sentence punctuation."""
    value = value.strip()
    return bool(_NAME.fullmatch(value)) and len(value.split()) <= 6


def split_speaker(text: str) -> tuple[str | None, str]:
    """`"Ana Souza: oi"` -> `("Ana Souza", "oi")`; text without a name-like prefix -> `(None, text)`.

    The colon must come within 60 characters and be followed by a space or
    the end, so "10:30" and "https://…" never yield a speaker.
    """
    stripped = text.strip()
    colon = stripped.find(":", 0, 62)
    if colon <= 0:
        return None, text
    name, rest = stripped[:colon].strip(), stripped[colon + 1:]
    if (rest and not rest[0].isspace()) or not looks_like_name(name):
        return None, text
    return name, rest.strip()


def tidy_inline(text: str) -> str:
    """One line of text: control characters become spaces, runs of whitespace collapse."""
    return " ".join(CONTROL_CHARS.sub(" ", text).split())


def join_text(first: str, second: str) -> str:
    return f"{first} {second}" if first else second
