"""Speaker statistics chart visualizer: one measure of `speaker_stats`, a bar per speaker.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | png | png, svg or html |
| metric | string | share | share, talk_time, words, turns, words_per_turn, questions, interruptions |
| language | string | auto | labels in pt or en; auto follows the analysis |
| source | string | "" | named in the title; empty: the document's file name or id |
| title | string | "" | overrides the automatic title |
| width, height | integer | 900, 450 | pixels |

Speakers are ranked top down by the measure. `share` is the share of talk
time when the transcript has timestamps, else the share of words (the axis
says which). `interruptions` draws interruptions made and received side by
side. Colours are Okabe-Ito (colour-blind safe). A note sums up the meeting;
hovering a bar (HTML) shows all of that speaker's figures.

Errors (-32602): a missing or malformed `speaker_stats`, no speakers,
`talk_time` or `interruptions` on a transcript without timestamps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from qualia.plugin_sdk import Document, Figure, InputError, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input
from qualia.plugins._charts.report import SERIES, label_language, source_name, titled

ARTEFACT = "speaker_stats"
TIMED_ONLY = ("talk_time", "interruptions")
LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "by": "{measure} by speaker",
        "titles": {"share_time": "Share of talk time", "share_words": "Share of words", "talk_time": "Talk time",
                   "words": "Words", "turns": "Turns", "words_per_turn": "Words per turn",
                   "questions": "Questions asked", "interruptions": "Interruptions"},
        "axes": {"share_time": "% of talk time", "share_words": "% of words", "talk_time": "seconds",
                 "words": "words", "turns": "turns", "words_per_turn": "words per turn", "questions": "questions",
                 "interruptions": "interruptions"},
        "made": "made", "received": "received",
        "note": "{speakers} speakers, {turns} turns, {words} words, {questions} questions",
        "timed": "; {duration} long, {overlaps} overlaps, {interruptions} interruptions",
        "tip": ["{turns} turns, {words} words ({share_words:.1%})", "{words_per_turn:g} words per turn",
                "{questions} questions"],
        "tip_timed": ["talk time {talk}s ({share_time:.1%})", "{made} interruptions made, {received} received"],
    },
    "pt": {
        "by": "{measure} por participante",
        "titles": {"share_time": "Participação no tempo de fala", "share_words": "Participação nas palavras",
                   "talk_time": "Tempo de fala", "words": "Palavras", "turns": "Turnos",
                   "words_per_turn": "Palavras por turno", "questions": "Perguntas feitas",
                   "interruptions": "Interrupções"},
        "axes": {"share_time": "% do tempo de fala", "share_words": "% das palavras", "talk_time": "segundos",
                 "words": "palavras", "turns": "turnos", "words_per_turn": "palavras por turno",
                 "questions": "perguntas", "interruptions": "interrupções"},
        "made": "feitas", "received": "sofridas",
        "note": "{speakers} participantes, {turns} turnos, {words} palavras, {questions} perguntas",
        "timed": "; duração {duration}, {overlaps} sobreposições, {interruptions} interrupções",
        "tip": ["{turns} turnos, {words} palavras ({share_words:.1%})", "{words_per_turn:g} palavras por turno",
                "{questions} perguntas"],
        "tip_timed": ["tempo de fala {talk}s ({share_time:.1%})", "{made} interrupções feitas, {received} sofridas"],
    },
}


class Speaker(msgspec.Struct):
    turns: int
    words: int
    words_per_turn: float
    share_of_words: float
    questions: int
    talk_time_s: float | None = None
    share_of_talk_time: float | None = None
    interruptions_made: int | None = None
    interrupted: int | None = None


class Meeting(msgspec.Struct):
    speakers: int
    turns: int
    words: int
    questions: int = 0
    duration_s: float | None = None
    overlaps: int | None = None
    interruptions: int | None = None


class Stats(msgspec.Struct):
    speakers: dict[str, Speaker]
    meeting: Meeting
    timed: bool = False
    language: str = ""


@dataclass(frozen=True)
class Chart:
    title: str
    axis: str
    names: list[str]
    series: list[tuple[str, list[float], str]]  # (label, value per speaker, colour)
    tips: list[str]
    note: str
    integer: bool
    width: int
    height: int


class SpeakerStatsChart(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        data = read_input(inputs, ARTEFACT, Stats)
        chart = build_chart(data, config, label_language(config["language"], {"language": data.language}, document),
                            source_name(config["source"], document))
        fmt = config["format"]
        if fmt == "html":
            from .page import html_chart

            return Figure.of_format(html_chart(chart), fmt)
        from .plot import plot  # matplotlib loads here, on the first PNG/SVG only

        return Figure.of_format(plot(chart, fmt), fmt)


def clock(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def values(data: Stats, metric: str) -> tuple[str, list[tuple[str, list[float]]]]:
    """The measure's key for labels, and per speaker its value(s)."""
    rows = data.speakers.items()
    if metric == "share":
        if data.timed:
            return "share_time", [(n, [round((s.share_of_talk_time or 0.0) * 100, 2)]) for n, s in rows]
        return "share_words", [(n, [round(s.share_of_words * 100, 2)]) for n, s in rows]
    if metric == "talk_time":
        return metric, [(n, [s.talk_time_s or 0.0]) for n, s in rows]
    if metric == "interruptions":
        return metric, [(n, [float(s.interruptions_made or 0), float(s.interrupted or 0)]) for n, s in rows]
    return metric, [(n, [float(getattr(s, metric))]) for n, s in rows]


def tip(name: str, speaker: Speaker, words: dict[str, Any], timed: bool) -> str:
    fields = {"turns": speaker.turns, "words": speaker.words, "share_words": speaker.share_of_words,
              "words_per_turn": speaker.words_per_turn, "questions": speaker.questions,
              "talk": f"{speaker.talk_time_s or 0:g}", "share_time": speaker.share_of_talk_time or 0.0,
              "made": speaker.interruptions_made or 0, "received": speaker.interrupted or 0}
    lines = [name, *(line.format(**fields) for line in words["tip"])]
    if timed:
        lines += [line.format(**fields) for line in words["tip_timed"]]
    return "\n".join(lines)


def build_chart(data: Stats, config: dict[str, Any], language: str, source: str) -> Chart:
    metric = config["metric"]
    if not data.speakers:
        raise InputError(f"nothing to draw: {ARTEFACT}.speakers is empty", {"artefact": ARTEFACT})
    if metric in TIMED_ONLY and not data.timed:
        raise InputError(f"metric {metric!r} needs timestamps, and this transcript has none "
                         f"({ARTEFACT}.timed is false); use share, words, turns, words_per_turn or questions",
                         {"key": "metric"})
    words = LABELS[language]
    key, rows = values(data, metric)
    rows.sort(key=lambda row: (-sum(row[1]), row[0]))
    names = [name for name, _ in rows]
    if metric == "interruptions":
        series = [(words["made"], [v[0] for _, v in rows], SERIES[0]),
                  (words["received"], [v[1] for _, v in rows], SERIES[1])]
    else:
        series = [(words["axes"][key], [v[0] for _, v in rows], SERIES[0])]
    meeting = data.meeting
    note = words["note"].format(speakers=meeting.speakers, turns=meeting.turns, words=meeting.words,
                                questions=meeting.questions)
    if data.timed and meeting.duration_s is not None:
        note += words["timed"].format(duration=clock(meeting.duration_s), overlaps=meeting.overlaps or 0,
                                      interruptions=meeting.interruptions or 0)
    title = config["title"] or titled(words["by"].format(measure=words["titles"][key]), source)
    return Chart(title=title, axis=words["axes"][key], names=names, series=series,
                 tips=[tip(name, data.speakers[name], words, data.timed) for name in names], note=note + ".",
                 integer=metric in ("words", "turns", "questions", "interruptions"),
                 width=config["width"], height=config["height"])
