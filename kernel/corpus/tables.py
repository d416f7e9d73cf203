"""Tidy tables from analysed documents: one row per observation, one column per variable.

| table | one row per | columns |
| --- | --- | --- |
| `segments` | segment | document, segment, speaker, start, end, text, language, polarity, label |
| `terms` | term x document x speaker | document, speaker, term, count, relative |
| `documents` | document | document, source, language, words, speakers, segments, talk_time_s, polarity, label |
| `speakers` | speaker x document | document, speaker, segments, words, talk_time_s, polarity, label |

Tables read artefacts by name (`word_frequencies`, `sentiment`, and the
cleaned Document's segments), never by plugin id, so any plugin that
provides them fills the columns; a column whose artefact the pipeline did
not compute stays empty. Speakers go through `SpeakerNames` (aliases,
spellings), and a speaker's term counts are summed over their spellings.
Rows are generated one document at a time: memory does not grow with the
corpus.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .speakers import SpeakerNames
from .store import DocumentRecord

__all__ = ["COLUMNS", "TABLES", "rows"]

WORDS = "word_frequencies"
SENTIMENT = "sentiment"

COLUMNS: dict[str, tuple[str, ...]] = {
    "segments": ("document", "segment", "speaker", "start", "end", "text", "language", "polarity", "label"),
    "terms": ("document", "speaker", "term", "count", "relative"),
    "documents": ("document", "source", "language", "words", "speakers", "segments", "talk_time_s", "polarity",
                  "label"),
    "speakers": ("document", "speaker", "segments", "words", "talk_time_s", "polarity", "label"),
}
TABLES = tuple(COLUMNS)

Row = tuple[Any, ...]


def rows(table: str, records: Iterable[DocumentRecord], names: SpeakerNames | None = None) -> Iterator[Row]:
    """The rows of `table` (in COLUMNS order) for every record."""
    names = names or SpeakerNames()
    build = _BUILDERS[table]
    for record in records:
        yield from build(record, names)


def _language(record: DocumentRecord) -> str:
    for source in (record.artefact(SENTIMENT), record.artefact(WORDS), record.document()):
        language = (source or {}).get("language")
        if language and language != "auto":
            return str(language)
    return ""


def _segments(record: DocumentRecord) -> list[dict[str, Any]]:
    """The document's segments, each with its sentiment when the sentiment units are those segments."""
    document = record.document() or {}
    segments = list(document.get("segments") or [])
    scored = (record.artefact(SENTIMENT) or {}).get("segments") or []
    if not segments:
        return [dict(unit) for unit in scored]
    if len(scored) == len(segments):
        return [{**segment, "polarity": unit.get("polarity"), "label": unit.get("label")}
                for segment, unit in zip(segments, scored)]
    return segments


def _duration(segment: dict[str, Any]) -> float:
    start, end = segment.get("start"), segment.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start:
        return float(end) - float(start)
    return 0.0


def _segment_rows(record: DocumentRecord, names: SpeakerNames) -> Iterator[Row]:
    language = _language(record)
    segments = _segments(record)
    if not segments:
        document = record.document() or {}
        sentiment = (record.artefact(SENTIMENT) or {}).get("document") or {}
        text = document.get("text", "")
        if text:
            yield (record.key, 0, "", None, None, text, language, sentiment.get("polarity"), sentiment.get("label"))
        return
    for index, segment in enumerate(segments):
        yield (record.key, index, names(segment.get("speaker")), segment.get("start"), segment.get("end"),
               segment.get("text", ""), language, segment.get("polarity"), segment.get("label"))


def _term_rows(record: DocumentRecord, names: SpeakerNames) -> Iterator[Row]:
    words = record.artefact(WORDS)
    if not words:
        return
    per_speaker = words.get("speakers") or {}
    if not per_speaker:
        for item in words.get("frequencies") or []:
            yield (record.key, "", item["term"], item["count"], item.get("relative"))
        return
    merged: dict[str, tuple[dict[str, int], int]] = {}
    for spelling, summary in per_speaker.items():
        speaker = names(spelling)
        counts, counted = merged.get(speaker, ({}, 0))
        for item in summary.get("frequencies") or []:
            counts[item["term"]] = counts.get(item["term"], 0) + int(item["count"])
        merged[speaker] = (counts, counted + int(summary.get("counted_tokens") or 0))
    for speaker, (counts, counted) in merged.items():
        for term, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            yield (record.key, speaker, term, count, round(count / counted, 6) if counted else None)


def _document_rows(record: DocumentRecord, names: SpeakerNames) -> Iterator[Row]:
    segments = _segments(record)
    words = record.artefact(WORDS)
    document = record.document() or {}
    if words is not None:
        word_count = int(words.get("total_tokens") or 0)
    else:
        word_count = sum(len(str(s.get("text", "")).split()) for s in segments) if segments else \
            len(str(document.get("text", "")).split())
    speakers = {names(segment.get("speaker")) for segment in segments} - {""}
    overall = (record.artefact(SENTIMENT) or {}).get("document") or {}
    yield (record.key, record.source or "", _language(record), word_count, len(speakers), len(segments),
           round(sum(_duration(segment) for segment in segments), 3), overall.get("polarity"), overall.get("label"))


def _speaker_rows(record: DocumentRecord, names: SpeakerNames) -> Iterator[Row]:
    segments = _segments(record)
    stats: dict[str, dict[str, Any]] = {}
    for segment in segments:
        speaker = names(segment.get("speaker"))
        if not speaker:
            continue
        row = stats.setdefault(speaker, {"segments": 0, "words": 0, "talk": 0.0, "weighted": 0.0, "scored": 0})
        row["segments"] += 1
        row["words"] += len(str(segment.get("text", "")).split())
        row["talk"] += _duration(segment)
        if isinstance(segment.get("polarity"), (int, float)):
            row["weighted"] += float(segment["polarity"])
            row["scored"] += 1
    sentiment = record.artefact(SENTIMENT) or {}
    thresholds = sentiment.get("thresholds") or {"positive": 0.05, "negative": -0.05}
    for speaker, row in stats.items():
        polarity = round(row["weighted"] / row["scored"], 4) if row["scored"] else None
        yield (record.key, speaker, row["segments"], row["words"], round(row["talk"], 3), polarity,
               _label(polarity, thresholds))


def _label(polarity: float | None, thresholds: dict[str, float]) -> str | None:
    """The sentiment analyzer's own rule, applied to a speaker whose spellings were merged."""
    if polarity is None:
        return None
    if polarity >= thresholds.get("positive", 0.05):
        return "positive"
    if polarity <= thresholds.get("negative", -0.05):
        return "negative"
    return "neutral"


_BUILDERS = {"segments": _segment_rows, "terms": _term_rows, "documents": _document_rows, "speakers": _speaker_rows}
