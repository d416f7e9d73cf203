"""Speaker statistics analyzer: who talks, how much, how, and over whom.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| min_overlap_s | number | 0 | overlaps shorter than this are ignored (timestamp jitter) |
| unknown_speaker | string | (unknown) | name for segments without a speaker |

Needs speaker segments (run teams_cleaner first, or send a Document with
`segments`). Per speaker: `segments`, `turns` (runs of consecutive segments by
the same speaker), `words`, `words_per_turn`, `share_of_words`, `questions`
(runs of "?"), `longest_turn` (the longest monologue: words, seconds, start),
and, when every segment has a start and an end: `talk_time_s`,
`share_of_talk_time`, `words_per_minute`, `overlaps`, `overlap_s`,
`interruptions_made`, `interrupted` (see `timing.py`). Without complete times
those are null and `timed` is false.

The `meeting` object: speakers, segments, turns, words, questions, and with
times `duration_s` (first start to last end), `talk_time_s` (sum over
speakers), `speech_s` (someone speaking), `silence_s`, `overlaps`,
`overlap_s`, `interruptions`, and the longest monologue.

Errors (-32602): a document without segments; a segment that ends before it
starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugins._text.tokens import pieces, resolve_language, tokenize

from .timing import Timed, overlaps, speech_time

QUESTION = re.compile(r"\?+")


@dataclass
class Turn:
    speaker: str
    words: int = 0
    seconds: float | None = 0.0
    start: float | None = None


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def build_turns(segments: list[tuple[str, int, float | None, float | None]], timed: bool) -> list[Turn]:
    turns: list[Turn] = []
    for speaker, words, start, end in segments:
        if not turns or turns[-1].speaker != speaker:
            turns.append(Turn(speaker, start=start, seconds=0.0 if timed else None))
        turn = turns[-1]
        turn.words += words
        if timed and turn.seconds is not None and start is not None and end is not None:
            turn.seconds += end - start
    return turns


def longest(turns: list[Turn], timed: bool) -> Turn | None:
    """The longest monologue: by seconds when timed, else by words; the first one wins a tie."""
    return max(turns, key=lambda t: (t.seconds if timed else t.words), default=None)


def turn_view(turn: Turn | None) -> dict[str, Any] | None:
    if turn is None:
        return None
    return {"speaker": turn.speaker, "words": turn.words, "seconds": rounded(turn.seconds), "start": turn.start}


class SpeakerStats(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        if not document.segments:
            raise InputError("speaker_stats needs speaker segments: clean the transcript first (teams_cleaner) or "
                             "send a document with `segments`", {"field": "document.segments"})
        unknown = config["unknown_speaker"]
        rows = []
        for piece in pieces(document):
            if piece.start is not None and piece.end is not None and piece.end < piece.start:
                raise InputError(f"segment {piece.index} ends ({piece.end}) before it starts ({piece.start})",
                                 {"field": f"document.segments[{piece.index}]"})
            rows.append((piece.speaker if piece.speaker is not None else unknown, len(tokenize(piece.text)),
                         piece.start, piece.end, len(QUESTION.findall(piece.text))))
        timed = all(start is not None and end is not None for _, _, start, end, _ in rows)
        turns = build_turns([(s, w, a, b) for s, w, a, b, _ in rows], timed)
        spans = [Timed(s, a, b) for s, _, a, b, _ in rows] if timed else []
        found = overlaps(spans, config["min_overlap_s"]) if timed else None

        names = list(dict.fromkeys(row[0] for row in rows))
        words = {name: sum(row[1] for row in rows if row[0] == name) for name in names}
        talk = {name: sum(row[3] - row[2] for row in rows if row[0] == name) for name in names} if timed else {}
        total_words, total_talk = sum(words.values()), sum(talk.values())
        speakers = {}
        for name in names:
            own = [turn for turn in turns if turn.speaker == name]
            stats: dict[str, Any] = {
                "segments": sum(1 for row in rows if row[0] == name), "turns": len(own), "words": words[name],
                "words_per_turn": round(words[name] / len(own), 2), "share_of_words": share(words[name], total_words),
                "questions": sum(row[4] for row in rows if row[0] == name),
                "talk_time_s": None, "share_of_talk_time": None, "words_per_minute": None,
                "overlaps": None, "overlap_s": None, "interruptions_made": None, "interrupted": None,
            }
            if timed and found is not None:
                seconds = talk[name]
                stats.update(talk_time_s=round(seconds, 3), share_of_talk_time=share(seconds, total_talk),
                             words_per_minute=round(words[name] * 60 / seconds, 1) if seconds else None,
                             overlaps=found.count.get(name, 0), overlap_s=round(found.seconds.get(name, 0.0), 3),
                             interruptions_made=found.made.get(name, 0), interrupted=found.received.get(name, 0))
            monologue = longest(own, timed)
            stats["longest_turn"] = {k: v for k, v in (turn_view(monologue) or {}).items() if k != "speaker"}
            speakers[name] = stats
        meeting: dict[str, Any] = {"speakers": len(names), "segments": len(rows), "turns": len(turns),
                                   "words": total_words, "questions": sum(row[4] for row in rows),
                                   "longest_turn": turn_view(longest(turns, timed))}
        if timed and found is not None:
            duration = max(row[3] for row in rows) - min(row[2] for row in rows)
            speech = speech_time(spans)
            meeting.update(duration_s=round(duration, 3), talk_time_s=round(total_talk, 3), speech_s=round(speech, 3),
                           silence_s=round(max(0.0, duration - speech), 3), overlaps=found.events,
                           overlap_s=round(found.total_s, 3), interruptions=sum(found.made.values()))
        return {"language": resolve_language("auto", document), "timed": timed, "meeting": meeting,
                "speakers": speakers}
