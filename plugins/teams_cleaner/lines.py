"""Line-based formats: one utterance per line (or per header block).

- `bracket_time`: `[hh:mm:ss] Name: text` (the name is optional). Strict:
  every non-empty line must be such a record or a system line.
- `paren_time`: `Name (hh:mm:ss): text`. Strict, like bracket_time.
- `teams_docx_text`: the layout of Teams' .docx export, a header line
  `Name   0:03` (two or more spaces or a tab, then `m:ss` or `h:mm:ss`)
  followed by the text lines. Lines above the first header are the preamble
  (title, date). Text not under a header is reported.
- `name_colon`: `Name: text`; a line right below (no blank line between)
  continues the utterance, a line after a blank line without a name is reported.
- `plain`: one segment per non-empty line, no speaker, no times (so survey
  answers, one per line, stay separate segments).

In every format a line that is a meeting event ("X entrou na reunião")
becomes its own speakerless segment, so the pipeline can drop or keep it.
"""
from __future__ import annotations

import re
from typing import Callable

from .model import BadLine, Line, Parsed, RawSegment, join_text, looks_like_name, parse_clock, split_speaker
from .system_lines import is_system_line

# Matched against stripped lines; each pattern has one unbounded part at most, so no line is slow.
_BRACKET = re.compile(r"\[(?P<time>[^\]]{0,40})\]\s*(?P<rest>.*)", re.DOTALL)
_PAREN = re.compile(r"(?P<name>[^():\s][^():]{0,59}?)\s*\((?P<time>[^()]{0,40})\)\s*:\s*(?P<text>.*)", re.DOTALL)
_DOCX_HEADER = re.compile(r"(?P<name>\S.{0,79}?)(?P<gap>[ \t\u00a0]+)(?P<time>[0-9]{1,2}(?::[0-9]{2}){1,2})")


def match_bracket(line: str) -> RawSegment | None:
    match = _BRACKET.fullmatch(line.strip())
    if match is None:
        return None
    start = parse_clock(match["time"])
    if start is None:
        return None
    speaker, text = split_speaker(match["rest"])
    return RawSegment(text=text, speaker=speaker, start=start)


def match_paren(line: str) -> RawSegment | None:
    match = _PAREN.fullmatch(line.strip())
    if match is None or not looks_like_name(match["name"]):
        return None
    start = parse_clock(match["time"])
    if start is None:
        return None
    return RawSegment(text=match["text"], speaker=match["name"].strip(), start=start)


def match_docx_header(line: str) -> RawSegment | None:
    match = _DOCX_HEADER.fullmatch(line.strip())
    if match is None or not looks_like_name(match["name"]):
        return None
    if len(match["gap"]) < 2 and "\t" not in match["gap"]:
        return None  # one space: "A reunião começa às 14:00" is a sentence, not a header
    start = parse_clock(match["time"])
    if start is None:
        return None
    return RawSegment(text="", speaker=match["name"].strip(), start=start)


def match_name_colon(line: str) -> RawSegment | None:
    speaker, text = split_speaker(line)
    return None if speaker is None else RawSegment(text=text, speaker=speaker)


def _system_segment(number: int, text: str) -> RawSegment:
    return RawSegment(text=text.strip(), line=number)


def _parse_strict(lines: list[Line], match: Callable[[str], RawSegment | None], what: str) -> Parsed:
    parsed = Parsed()
    for number, text in lines:
        if not text.strip():
            continue
        segment = match(text)
        if segment is not None:
            segment.line = number
            parsed.segments.append(segment)
        elif is_system_line(text):
            parsed.segments.append(_system_segment(number, text))
        else:
            parsed.bad_lines.append(BadLine(number, text, f"not a {what} line"))
    return parsed


def parse_bracket(lines: list[Line]) -> Parsed:
    return _parse_strict(lines, match_bracket, "[hh:mm:ss] Name: text")


def parse_paren(lines: list[Line]) -> Parsed:
    return _parse_strict(lines, match_paren, "Name (hh:mm:ss): text")


def parse_name_colon(lines: list[Line]) -> Parsed:
    parsed = Parsed()
    current: RawSegment | None = None
    for number, text in lines:
        if not text.strip():
            current = None
            continue
        if is_system_line(text):
            parsed.segments.append(_system_segment(number, text))
            current = None
            continue
        segment = match_name_colon(text)
        if segment is not None:
            segment.line = number
            parsed.segments.append(segment)
            current = segment
        elif current is not None:
            current.text = join_text(current.text, text.strip())
        else:
            parsed.bad_lines.append(BadLine(number, text, "no 'Name:' and not below an utterance"))
    return parsed


def parse_docx_layout(lines: list[Line]) -> Parsed:
    parsed = Parsed()
    first_header = next((i for i, (_, text) in enumerate(lines) if match_docx_header(text)), None)
    if first_header is None:
        for number, text in lines:
            if not text.strip():
                continue
            if is_system_line(text):
                parsed.segments.append(_system_segment(number, text))
            else:
                parsed.bad_lines.append(BadLine(number, text, "no 'Name   m:ss' header in the text"))
        return parsed
    for number, text in lines[:first_header]:
        if is_system_line(text):
            parsed.segments.append(_system_segment(number, text))
        elif text.strip():
            parsed.preamble.append(text.strip())
    current: RawSegment | None = None
    for number, text in lines[first_header:]:
        if not text.strip():
            if current is not None and current.text:
                current = None  # a blank line ends a block, unless it sits between header and text
            continue
        header = match_docx_header(text)
        if header is not None:
            header.line = number
            parsed.segments.append(header)
            current = header
        elif is_system_line(text):
            parsed.segments.append(_system_segment(number, text))
            current = None
        elif current is not None:
            current.text = join_text(current.text, text.strip())
        else:
            parsed.bad_lines.append(BadLine(number, text, "text outside a speaker block"))
    return parsed


def parse_plain(lines: list[Line]) -> Parsed:
    return Parsed(segments=[RawSegment(text=text.strip(), line=number) for number, text in lines if text.strip()])
