"""The cleaning run, step by step: read, pick a format, parse, clean, merge, report.

Order matters and is part of the contract: speaker names are normalised
first (so aliases merge people), then each segment is dropped as a system
line, emptied by filler removal, or too short; merging runs last, so two turns
of one speaker around a dropped "X entrou na reunião" become one.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from qualia.plugin_sdk import Document, InputError, Segment
from qualia.plugin_sdk.text import detect_language, tokenize
from qualia.plugins._text import language as segment_language

from .fillers import FillerRemover
from .formats import PARSERS, detect
from .model import RawSegment, join_text, tidy_inline
from .report import build_report, truncate
from .source import Source, read_source, without_payload
from .speakers import SpeakerNormaliser
from .system_lines import is_system_line

_HAS_WORD = re.compile(r"[^\W_]")


def choose_format(requested: str, source: Source) -> tuple[str, str]:
    """The format to parse with, and whether it was `auto`-detected or `forced`."""
    if requested == "auto":
        detected = detect(source.lines)
        return ("docx" if source.kind == "docx" and detected == "teams_docx_text" else detected), "auto"
    if requested == "docx" and source.kind != "docx":
        raise InputError("input_format 'docx' needs the .docx file itself: text \"\" and its bytes in "
                         "metadata.content_base64 (use 'teams_docx_text' for text copied out of one)",
                         {"key": "input_format"})
    return requested, "forced"


def resolve_language(configured: str, document_language: str, segments: list[RawSegment]) -> str:
    if configured != "auto":
        return configured
    if document_language != "auto":
        return document_language
    return detect_language(" ".join(segment.text for segment in segments), default="auto")


def estimate_durations(segments: list[RawSegment]) -> None:
    """Talk time per segment: end - start, or (no end known) up to the next segment's start."""
    next_start: float | None = None
    for segment in reversed(segments):
        if segment.start is not None:
            if segment.end is not None:
                segment.duration = segment.end - segment.start
            elif next_start is not None and next_start >= segment.start:
                segment.duration = next_start - segment.start
            next_start = segment.start


def merge_consecutive(segments: list[RawSegment]) -> tuple[list[RawSegment], int]:
    """Fold each segment into the previous one when both have the same (non-null) speaker."""
    merged: list[RawSegment] = []
    for segment in segments:
        previous = merged[-1] if merged else None
        if previous is not None and segment.speaker is not None and segment.speaker == previous.speaker:
            previous.text = join_text(previous.text, segment.text)
            previous.end = segment.end
            if segment.duration is not None:
                previous.duration = (previous.duration or 0.0) + segment.duration
        else:
            merged.append(segment)
    return merged, len(segments) - len(merged)


def render_text(segments: list[RawSegment]) -> str:
    return "\n".join(f"{s.speaker}: {s.text}" if s.speaker else s.text for s in segments)


def _length_measure(unit: str) -> Callable[[str], int]:
    return len if unit == "characters" else (lambda text: len(tokenize(text)))


def clean_document(document: Document, config: dict[str, Any]) -> Document:
    source = read_source(document)
    fmt, format_source = choose_format(config["input_format"], source)
    parsed = PARSERS[fmt](source.lines)
    if not parsed.segments and parsed.bad_lines:
        first = parsed.bad_lines[0]
        hint = " (try input_format 'auto')" if format_source == "forced" else ""
        raise InputError(
            f"nothing could be parsed as {fmt}{hint}: {len(parsed.bad_lines)} line(s) unreadable, "
            f"the first is line {first.line}: {truncate(first.content.strip(), 60)!r}",
            {"format": fmt, "unparsed_lines": [b.line for b in parsed.bad_lines[:20]]},
        )
    for segment in parsed.segments:
        segment.text = tidy_inline(segment.text)
    estimate_durations(parsed.segments)
    language = resolve_language(config["language"], document.language, parsed.segments)

    normalise = SpeakerNormaliser(config["speaker_case"], config["speaker_aliases"])
    remove_fillers = FillerRemover.for_language(
        language, config["fillers"], replace=config["fillers_mode"] == "replace",
    ) if config["remove_fillers"] else None
    min_length, measure = config["min_length"], _length_measure(config["min_length_unit"])

    kept: list[RawSegment] = []
    dropped: list[tuple[str, RawSegment]] = []
    fillers_removed = 0
    for segment in parsed.segments:
        segment.speaker = normalise(segment.speaker)
        if segment.speaker is None and config["remove_system_lines"] and is_system_line(segment.text):
            dropped.append(("system_line", segment))
            continue
        if remove_fillers is not None:
            segment.text, removed = remove_fillers(segment.text)
            fillers_removed += removed
        if not _HAS_WORD.search(segment.text):
            dropped.append(("empty", segment))
        elif min_length and measure(segment.text) < min_length:
            dropped.append(("too_short", segment))
        else:
            kept.append(segment)
    merged = 0
    if config["merge_speakers"]:
        kept, merged = merge_consecutive(kept)

    quality = build_report(
        fmt=fmt, format_source=format_source, source=source.kind, language=language, parsed=parsed,
        kept=kept, dropped=dropped, merged=merged, fillers_removed=fillers_removed,
    )
    return Document(
        id=document.id,
        text=render_text(kept),
        language=language if document.language == "auto" else document.language,
        metadata=_cleaned_metadata(document.metadata, quality, kept, detect_languages=config["detect_languages"]),
        segments=[Segment(text=s.text, speaker=s.speaker, start=s.start, end=s.end) for s in kept],
    )


def _cleaned_metadata(metadata: dict[str, Any], quality: dict[str, Any], kept: list[RawSegment], *,
                      detect_languages: bool) -> dict[str, Any]:
    """The input's metadata with the quality report, and the kept segments' languages for the analyzers that
    follow (`_text.language.adopt`); languages recorded for the input's segments are dropped, as those segments
    are not these."""
    cleaned = {**without_payload(metadata), "quality": quality}
    cleaned.pop(segment_language.METADATA_KEY, None)
    if detect_languages:
        cleaned[segment_language.METADATA_KEY] = segment_language.record([s.text for s in kept])
    return cleaned
