"""The format table and auto-detection: which parser reads these lines.

Detection is by evidence, most specific first: a `WEBVTT` header, then cue
timing lines (`-->`), then the share of lines each line format recognises.
A line format must recognise at least half of the non-empty lines that are
not meeting events (a Teams .docx layout, where only headers match, at least
15%); otherwise the text is `plain`, which always parses.
"""
from __future__ import annotations

from typing import Callable

from . import cues, lines
from .model import Line, Parsed
from .system_lines import is_system_line

Parser = Callable[[list[Line]], Parsed]

PARSERS: dict[str, Parser] = {
    "teams_vtt": cues.parse_webvtt,
    "zoom_vtt": cues.parse_zoom_vtt,
    "vtt": cues.parse_webvtt,
    "srt": cues.parse_srt,
    "teams_docx_text": lines.parse_docx_layout,
    "docx": lines.parse_docx_layout,
    "bracket_time": lines.parse_bracket,
    "paren_time": lines.parse_paren,
    "name_colon": lines.parse_name_colon,
    "plain": lines.parse_plain,
}

# (format, recogniser, share of non-empty lines it must recognise); ties go to the earlier one.
_LINE_FORMATS = (
    ("bracket_time", lines.match_bracket, 0.5),
    ("paren_time", lines.match_paren, 0.5),
    ("teams_docx_text", lines.match_docx_header, 0.15),
    ("name_colon", lines.match_name_colon, 0.5),
)


def _webvtt_flavour(numbered: list[Line]) -> str:
    found, _ = cues.parse_cues(numbered, webvtt=True)
    if cues.voice_share(found) >= 0.5:
        return "teams_vtt"
    if cues.colon_share(found) >= 0.5:
        return "zoom_vtt"
    return "vtt"


def detect(numbered: list[Line]) -> str:
    texts = [text.strip() for _, text in numbered if text.strip()]
    if not texts:
        return "plain"
    if texts[0].lstrip("\ufeff").startswith("WEBVTT"):
        return _webvtt_flavour(numbered)
    timings = [text for text in texts if "-->" in text and cues.parse_timing(text)]
    if timings and len(timings) >= 0.15 * len(texts):
        with_comma = sum("," in text.split("-->")[0] for text in timings)
        return "srt" if with_comma * 2 >= len(timings) else _webvtt_flavour(numbered)
    texts = [text for text in texts if not is_system_line(text)]  # meeting events fit any format
    best, best_count = "plain", 0
    for name, recognise, share in _LINE_FORMATS:
        count = sum(recognise(text) is not None for text in texts)
        if count >= share * len(texts) and count > best_count:
            best, best_count = name, count
    return best
