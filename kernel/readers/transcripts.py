"""Is this text a meeting transcript? The layouts a cleaner (a plugin providing `segments`) parses.

The kernel cleans transcripts by default before analysing them, so WebVTT
headers, cue timings and speaker labels never count as words. Recognising a
layout needs only a look at the lines; parsing it is the cleaner's job. A
layout is recognised when enough of the first `SAMPLE_LINES` non-empty lines
fit it: any cue timing share of 15% (WebVTT, SRT), half of the lines for the
chat layouts, 15% for the header lines of a Teams .docx export. Plain prose
and survey answers (one per line) are not transcripts.
"""
from __future__ import annotations

import re

__all__ = ["TRANSCRIPT_LAYOUTS", "transcript_layout"]

TRANSCRIPT_LAYOUTS = ("webvtt", "srt", "bracket_time", "paren_time", "teams_docx", "name_colon")
SAMPLE_LINES = 120

_CLOCK = r"\d{1,2}(?::\d{2}){1,2}"
_TIMING = re.compile(r"\s*(?:\d{1,2}:)?\d{1,2}:\d{2}(?P<sep>[.,])\d{1,3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}")
_BRACKET = re.compile(rf"\[{_CLOCK}(?:[.,]\d+)?\]\s*\S")
_NAME = r"[^\W\d_][\w.'’ -]{0,59}?"
_PAREN = re.compile(rf"{_NAME}\s*\({_CLOCK}\)\s*:")
_DOCX_HEADER = re.compile(rf"{_NAME}(?:[ \u00a0]{{2,}}|\t)[ \t\u00a0]*{_CLOCK}")
_NAME_COLON = re.compile(rf"(?P<name>{_NAME}):(?:\s|$)")


def _sample(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.lstrip("\ufeff").splitlines():
        stripped = line.strip()
        if stripped:
            lines.append(stripped)
            if len(lines) >= SAMPLE_LINES:
                break
    return lines


def transcript_layout(text: str) -> str | None:
    """The transcript layout of `text` (one of TRANSCRIPT_LAYOUTS), or None for other text."""
    lines = _sample(text)
    if not lines:
        return None
    if lines[0].startswith("WEBVTT"):
        return "webvtt"
    count = len(lines)
    timings = [match for match in map(_TIMING.match, lines) if match is not None]
    if timings and len(timings) >= 0.15 * count:
        commas = sum(match["sep"] == "," for match in timings)
        return "srt" if commas * 2 >= len(timings) else "webvtt"
    if sum(_BRACKET.match(line) is not None for line in lines) >= 0.5 * count:
        return "bracket_time"
    if sum(_PAREN.match(line) is not None for line in lines) >= 0.5 * count:
        return "paren_time"
    headers = sum(_DOCX_HEADER.fullmatch(line) is not None for line in lines)
    if headers >= 2 and headers >= 0.15 * count:
        return "teams_docx"
    names = [match["name"].strip() for match in map(_NAME_COLON.match, lines)
             if match is not None and len(match["name"].split()) <= 6]
    if count >= 3 and len(names) >= 0.5 * count and len(set(names)) >= 2:
        return "name_colon"
    return None
