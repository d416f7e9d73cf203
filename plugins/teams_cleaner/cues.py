"""Cue-based formats: WebVTT (Teams, Zoom, generic) and SRT.

Both are blocks separated by blank lines: an optional identifier, a timing
line `start --> end`, then payload lines. One tolerant parser serves all four
formats; they differ only in where the speaker comes from:

- Teams puts it in a voice tag: `<v Ana Souza>text</v>`;
- Zoom writes `Name: text` inside the cue;
- SRT usually has no speaker; when most cues start with `Name:`, that is used.

A block without a timing line is reported line by line; a cue whose timing
line is broken keeps its text (times null) and the timing line is reported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .model import BadLine, Line, Parsed, RawSegment, parse_clock, split_speaker

_TIMING = re.compile(r"(\S+?)\s*-->\s*(\S+)(?:\s.*)?")  # on a stripped line
_IDENTIFIER = re.compile(r"[0-9]+|[0-9A-Fa-f-]{8,}/[0-9]+-[0-9]+")
_WEBVTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:\s|$)")
# Bounded repeats: an unclosed "<v " or "{\\" must not make a long cue quadratic.
_VOICE = re.compile(r"<v(?:\.[^\s>]{0,50})?[ \t]([^>]{0,200})>")
_TAG = re.compile(r"</?(?:[A-Za-z][\w.]{0,50}(?:\s[^<>]{0,200})?|[0-9][0-9:.]{0,30})>")
_ASS_TAG = re.compile(r"\{\\[^}]{0,100}\}")


@dataclass
class Cue:
    line: int  # the timing line
    start: float | None
    end: float | None
    payload: str
    voice: str | None  # speaker from a <v> tag


def parse_timing(line: str) -> tuple[float, float] | None:
    match = _TIMING.fullmatch(line.strip())
    if match is None:
        return None
    start, end = parse_clock(match[1]), parse_clock(match[2])
    if start is None or end is None or end < start:
        return None
    return start, end


def _blocks(lines: list[Line]) -> list[list[Line]]:
    blocks: list[list[Line]] = []
    current: list[Line] = []
    for number, text in lines:
        if text.strip():
            current.append((number, text))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _make_cue(timing: Line, payload: list[Line], bad: list[BadLine]) -> Cue:
    number, text = timing
    times = parse_timing(text)
    if times is None:
        bad.append(BadLine(number, text, "bad cue timing"))
    raw = " ".join(line.strip() for _, line in payload)
    voice = _VOICE.search(raw)
    plain = _ASS_TAG.sub("", _TAG.sub("", raw))
    if "&" in plain:
        import html  # only cues with entities need it

        plain = html.unescape(plain)
    return Cue(
        line=number,
        start=times[0] if times else None,
        end=times[1] if times else None,
        payload=plain.strip(),
        voice=(voice[1].strip() or None) if voice else None,
    )


def parse_cues(lines: list[Line], *, webvtt: bool) -> tuple[list[Cue], list[BadLine]]:
    cues: list[Cue] = []
    bad: list[BadLine] = []
    for index, block in enumerate(_blocks(lines)):
        head = block[0][1].strip().lstrip("\ufeff")
        if index == 0 and head.startswith("WEBVTT"):
            continue  # the header block, with any metadata lines under it
        if webvtt and _WEBVTT_SKIPPED_BLOCK.match(head):
            continue
        timings = [i for i, (_, text) in enumerate(block) if "-->" in text]
        if not timings:
            bad.extend(BadLine(number, text, "no cue timing") for number, text in block)
            continue
        # Before the first timing line: one identifier; anything above it is stray.
        bad.extend(BadLine(number, text, "stray line before cue") for number, text in block[:max(timings[0] - 1, 0)])
        for k, i in enumerate(timings):
            stop = timings[k + 1] if k + 1 < len(timings) else len(block)
            payload = block[i + 1:stop]
            # A missing blank line between cues leaves the next cue's identifier here.
            if k + 1 < len(timings) and payload and _IDENTIFIER.fullmatch(payload[-1][1].strip()):
                payload = payload[:-1]
            cues.append(_make_cue(block[i], payload, bad))
    return cues, bad


def voice_share(cues: list[Cue]) -> float:
    return sum(cue.voice is not None for cue in cues) / len(cues) if cues else 0.0


def colon_share(cues: list[Cue]) -> float:
    """Share of cues without a voice tag whose text starts with `Name:`."""
    candidates = [cue for cue in cues if cue.voice is None and cue.payload]
    if not candidates:
        return 0.0
    return sum(split_speaker(cue.payload)[0] is not None for cue in candidates) / len(candidates)


def cues_to_parsed(cues: list[Cue], bad: list[BadLine], *, colon_speakers: bool) -> Parsed:
    segments = []
    for cue in cues:
        speaker, text = cue.voice, cue.payload
        if speaker is None and colon_speakers:
            speaker, text = split_speaker(text)
        segments.append(RawSegment(text=text, speaker=speaker, start=cue.start, end=cue.end, line=cue.line))
    return Parsed(segments=segments, bad_lines=sorted(bad, key=lambda b: b.line))


def parse_webvtt(lines: list[Line]) -> Parsed:
    """Teams and generic WebVTT: speakers only from voice tags."""
    return cues_to_parsed(*parse_cues(lines, webvtt=True), colon_speakers=False)


def parse_zoom_vtt(lines: list[Line]) -> Parsed:
    return cues_to_parsed(*parse_cues(lines, webvtt=True), colon_speakers=True)


def parse_srt(lines: list[Line]) -> Parsed:
    cues, bad = parse_cues(lines, webvtt=False)
    return cues_to_parsed(cues, bad, colon_speakers=colon_share(cues) >= 0.5)
