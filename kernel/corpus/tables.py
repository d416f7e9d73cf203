"""Tidy tables from analysed documents: one row per observation, one column per variable.

| table | one row per | columns |
| --- | --- | --- |
| `segments` | segment | document, segment, speaker, start, end, text, language, polarity, label |
| `terms` | term x document x speaker | document, speaker, term, count, relative |
| `documents` | document | document, source, language, words, speakers, segments, talk_time_s, polarity, label |
| `speakers` | speaker x document | document, speaker, segments, words, talk_time_s, polarity, label |
| `speaker_stats_by_meeting` | speaker x document | the `speaker_stats` result: talk, turns, words, questions, ... |
| `speaker_stats` | speaker, across the corpus | the same over the meetings the speaker attended (below) |

`speaker_stats` is a corpus table: its rows come after every document has
been read (`SpeakerStatsTotals` keeps one small total per speaker). Sums are
sums (turns, words, questions); words per turn and share of talk are
recomputed from the sums, never averaged; the longest monologue is the
longest of any meeting, with the meeting it came from (by seconds when all
the speaker's meetings have timestamps, else by words). Talk time, overlaps
and interruptions exist only for meetings with timestamps (`timed`):
`timed_meetings` counts them, the columns are summed over them (empty when
there are none), and `note` says when some meetings were left out. Two
spellings of one person in one meeting (merged by `SpeakerNames`) add their
turns: a run of both counts as two turns.

Tables read artefacts by name (`word_frequencies`, `sentiment`, `speaker_stats`, and the
cleaned Document's segments), never by plugin id, so any plugin that
provides them fills the columns; a column whose artefact the pipeline did
not compute stays empty. Speakers go through `SpeakerNames` (aliases,
spellings), and a speaker's term counts are summed over their spellings.
Rows are generated one document at a time: memory does not grow with the
corpus.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from .speakers import SpeakerNames
from .store import DocumentRecord

__all__ = ["COLUMNS", "CORPUS_TABLES", "TABLES", "SpeakerStatsTotals", "rows"]

WORDS = "word_frequencies"
SENTIMENT = "sentiment"
SPEAKER_STATS = "speaker_stats"

COLUMNS: dict[str, tuple[str, ...]] = {
    "segments": ("document", "segment", "speaker", "start", "end", "text", "language", "polarity", "label"),
    "terms": ("document", "speaker", "term", "count", "relative"),
    "documents": ("document", "source", "language", "words", "speakers", "segments", "talk_time_s", "polarity",
                  "label"),
    "speakers": ("document", "speaker", "segments", "words", "talk_time_s", "polarity", "label"),
    "speaker_stats_by_meeting": ("document", "speaker", "timed", "talk_time_s", "share_of_talk", "turns", "words",
                                 "words_per_turn", "questions", "longest_monologue_s", "longest_monologue_words",
                                 "overlaps", "overlap_s", "interruptions_made", "interrupted"),
    "speaker_stats": ("speaker", "meetings", "timed_meetings", "talk_time_s", "share_of_talk", "turns", "words",
                      "words_per_turn", "questions", "longest_monologue_s", "longest_monologue_words",
                      "longest_monologue_meeting", "overlaps", "overlap_s", "interruptions_made", "interrupted",
                      "note"),
}
TABLES = tuple(COLUMNS)
CORPUS_TABLES = ("speaker_stats",)  # one row per speaker over every document: written after the last one

Row = tuple[Any, ...]

# Digits kept in the speaker_stats tables: milliseconds for seconds (timestamps are no finer), a share to
# 0.01 %, words per turn to two decimals.
SECONDS_DIGITS = 3
SHARE_DIGITS = 4
PER_TURN_DIGITS = 2
_Amount = TypeVar("_Amount", int, float)


def rows(table: str, records: Iterable[DocumentRecord], names: SpeakerNames | None = None) -> Iterator[Row]:
    """The rows of `table` (in COLUMNS order) for every record."""
    names = names or SpeakerNames()
    if table == "speaker_stats":
        totals = SpeakerStatsTotals()
        for record in records:
            totals.add(_speaker_stats_rows(record, names))
        yield from totals.rows()
        return
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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def _optional_sum(total: _Amount | None, value: _Amount | None) -> _Amount | None:
    """`total + value` where None means "not measured": a column stays empty until some meeting measured it."""
    return value if total is None else total if value is None else total + value


class _MeetingTotals:
    """One speaker in one meeting, their spellings merged."""

    __slots__ = ("talk", "turns", "words", "questions", "longest_s", "longest_words", "overlaps", "overlap_s",
                 "made", "received")

    def __init__(self) -> None:
        self.talk: float | None = None
        self.turns = self.words = self.questions = 0
        self.longest_s: float | None = None
        self.longest_words = 0
        self.overlaps: int | None = None
        self.overlap_s: float | None = None
        self.made: int | None = None
        self.received: int | None = None

    def add(self, stats: dict[str, Any], timed: bool) -> None:
        self.turns += _count(stats.get("turns"))
        self.words += _count(stats.get("words"))
        self.questions += _count(stats.get("questions"))
        longest = stats.get("longest_turn") or {}
        seconds, words = _number(longest.get("seconds")), _count(longest.get("words"))
        if (seconds or 0.0, words) > (self.longest_s or 0.0, self.longest_words):
            self.longest_s, self.longest_words = seconds, words
        if timed:
            self.talk = _optional_sum(self.talk, _number(stats.get("talk_time_s")))
            self.overlaps = _optional_sum(self.overlaps, _integer(stats.get("overlaps")))
            self.made = _optional_sum(self.made, _integer(stats.get("interruptions_made")))
            self.received = _optional_sum(self.received, _integer(stats.get("interrupted")))
            self.overlap_s = _optional_sum(self.overlap_s, _number(stats.get("overlap_s")))


def _speaker_stats_rows(record: DocumentRecord, names: SpeakerNames) -> Iterator[Row]:
    result = record.artefact(SPEAKER_STATS)
    if not result or not isinstance(result.get("speakers"), dict):
        return
    timed = bool(result.get("timed"))
    merged: dict[str, _MeetingTotals] = {}
    for spelling, stats in result["speakers"].items():
        speaker = names(spelling) or str(spelling)
        if isinstance(stats, dict):
            merged.setdefault(speaker, _MeetingTotals()).add(stats, timed)
    meeting_talk = sum(totals.talk or 0.0 for totals in merged.values())
    for speaker, t in merged.items():
        yield (record.key, speaker, timed, _round(t.talk, SECONDS_DIGITS), _share(t.talk, meeting_talk),
               t.turns, t.words, _per_turn(t.words, t.turns), t.questions,
               _round(t.longest_s, SECONDS_DIGITS), t.longest_words, t.overlaps, _round(t.overlap_s, SECONDS_DIGITS),
               t.made, t.received)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _share(talk: float | None, total_talk: float) -> float | None:
    """Share of talk, recomputed from summed seconds (shares are never averaged); None where not timed."""
    return round(talk / total_talk, SHARE_DIGITS) if talk is not None and total_talk else None


def _per_turn(words: int, turns: int) -> float | None:
    return round(words / turns, PER_TURN_DIGITS) if turns else None


class _CorpusSpeaker:
    """One speaker's running totals across the meetings read so far (see SpeakerStatsTotals)."""

    __slots__ = ("meetings", "timed", "talk", "turns", "words", "questions", "longest", "overlaps", "overlap_s",
                 "made", "received")

    def __init__(self) -> None:
        self.meetings = self.timed = self.turns = self.words = self.questions = 0
        self.talk: float | None = None
        self.longest: list[tuple[float | None, int, str]] = []  # the longest per meeting: seconds, words, meeting
        self.overlaps: int | None = None
        self.overlap_s: float | None = None
        self.made: int | None = None
        self.received: int | None = None


class SpeakerStatsTotals:
    """Folds `speaker_stats_by_meeting` rows into one `speaker_stats` row per speaker across the corpus."""

    def __init__(self) -> None:
        self.speakers: dict[str, _CorpusSpeaker] = {}

    def add(self, meeting_rows: Iterable[Row]) -> None:
        for (document, speaker, timed, talk, _, turns, words, _, questions, longest_s, longest_words, overlaps,
             overlap_s, made, received) in meeting_rows:
            totals = self.speakers.get(speaker) or self.speakers.setdefault(speaker, _CorpusSpeaker())
            totals.meetings += 1
            totals.turns += turns
            totals.words += words
            totals.questions += questions
            totals.longest.append((longest_s, longest_words, document))
            if timed:
                totals.timed += 1
                totals.talk = _optional_sum(totals.talk, talk)
                totals.overlap_s = _optional_sum(totals.overlap_s, overlap_s)
                totals.overlaps = _optional_sum(totals.overlaps, overlaps)
                totals.made = _optional_sum(totals.made, made)
                totals.received = _optional_sum(totals.received, received)

    def rows(self) -> Iterator[Row]:
        """One `speaker_stats` row per speaker, by name; call after the last `add` (shares need every meeting)."""
        corpus_talk = sum(totals.talk or 0.0 for totals in self.speakers.values())
        for speaker, t in sorted(self.speakers.items()):
            by_seconds = t.timed == t.meetings
            seconds, words, meeting = max(t.longest, key=lambda item: (item[0] or 0.0) if by_seconds else item[1])
            yield (speaker, t.meetings, t.timed, _round(t.talk, SECONDS_DIGITS), _share(t.talk, corpus_talk),
                   t.turns, t.words, _per_turn(t.words, t.turns), t.questions,
                   _round(seconds, SECONDS_DIGITS), words, meeting, t.overlaps, _round(t.overlap_s, SECONDS_DIGITS),
                   t.made, t.received, _timing_note(t.timed, t.meetings))


def _timing_note(timed: int, meetings: int) -> str:
    if timed == meetings:
        return ""
    if timed == 0:
        return "no timestamps: talk time, overlaps and interruptions not measured; longest monologue by words"
    return (f"talk time, overlaps and interruptions from the {timed} of {meetings} meetings with timestamps; "
            f"longest monologue by words")


_BUILDERS = {"segments": _segment_rows, "terms": _term_rows, "documents": _document_rows, "speakers": _speaker_rows,
             "speaker_stats_by_meeting": _speaker_stats_rows}
