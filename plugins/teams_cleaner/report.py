"""The quality report (`document.metadata["quality"]`): what was parsed, kept, dropped and why.

It lets a researcher check a cleaning before trusting the numbers built on
it: a wrong format shows up as many unparsed lines, a bad speaker mapping as
an odd speaker list. Lists are capped so a broken file cannot blow up the
response; the counts are always complete.
"""
from __future__ import annotations

from typing import Any

from qualia.plugin_sdk.text import tokenize

from .model import BadLine, Parsed, RawSegment

DROP_REASONS = ("system_line", "too_short", "empty")
MAX_LISTED = 100
MAX_CONTENT = 120


def truncate(text: str, limit: int = MAX_CONTENT) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def timing_of(segments: list[RawSegment]) -> str:
    """`start_end` (cue times), `start_only` (talk time estimated up to the next start) or `none`."""
    if any(segment.end is not None for segment in segments):
        return "start_end"
    if any(segment.start is not None for segment in segments):
        return "start_only"
    return "none"


def speaker_table(segments: list[RawSegment]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for segment in segments:
        if segment.speaker is None:
            continue
        row = table.setdefault(segment.speaker, {"segments": 0, "words": 0, "talk_time_s": None})
        row["segments"] += 1
        row["words"] += len(tokenize(segment.text))
        if segment.duration is not None:
            row["talk_time_s"] = round((row["talk_time_s"] or 0.0) + segment.duration, 3)
    return table


def _bad_line(bad: BadLine) -> dict[str, Any]:
    return {"line": bad.line, "content": truncate(bad.content.strip()), "reason": bad.reason}


def build_report(*, fmt: str, format_source: str, source: str, language: str, parsed: Parsed,
                 kept: list[RawSegment], dropped: list[tuple[str, RawSegment]], merged: int,
                 fillers_removed: int) -> dict[str, Any]:
    by_reason = {reason: 0 for reason in DROP_REASONS}
    for reason, _ in dropped:
        by_reason[reason] += 1
    return {
        "format": fmt,
        "format_source": format_source,
        "source": source,
        "language": language,
        "timing": timing_of(parsed.segments),
        "segments": {
            "parsed": len(parsed.segments),
            "kept": len(kept),
            "merged": merged,
            "dropped": by_reason,
        },
        "dropped": [
            {"line": segment.line, "reason": reason, "speaker": segment.speaker, "text": truncate(segment.text, 80)}
            for reason, segment in dropped[:MAX_LISTED]
        ],
        "fillers_removed": fillers_removed,
        "words": sum(len(tokenize(segment.text)) for segment in kept),
        "speakers": speaker_table(kept),
        "unparsed_count": len(parsed.bad_lines),
        "unparsed_lines": [_bad_line(bad) for bad in parsed.bad_lines[:MAX_LISTED]],
        "preamble": [truncate(line) for line in parsed.preamble[:MAX_LISTED]],
    }
