"""Sentiment charts visualizer: the `sentiment` result over time, by speaker, or as label counts.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | png | png, svg or html (the reserved visualizer key) |
| chart | string | timeline | timeline, speakers or distribution (below) |
| x_axis | string | auto | timeline x axis: index (segment number), time (start), auto (time if every point has a start) |
| title | string | "" | chart title; empty for an automatic one |
| width | integer 200-4000 | 900 | pixels; the PNG is exactly width x height, SVG and HTML scale from it |
| height | integer 150-4000 | 450 | pixels |

Charts:

- `timeline`: each segment's polarity as a point coloured by its label, the
  rolling mean as a line, and the positive and negative zones (from
  `thresholds`) as tinted bands. Hovering a point (HTML) shows the speaker,
  time, scores and the start of the segment's text.
- `speakers`: each speaker's mean polarity as a bar coloured by its label,
  with the thresholds as dashed lines.
- `distribution`: how many segments are positive, neutral and negative.

Input: `sentiment` (from sentiment_analyzer). A chart reads only what it
needs: `timeline` (+ `thresholds`, and `segments` for the tooltips),
`speakers` (+ `thresholds`), or `distribution`.

PNG and SVG are drawn by matplotlib (Agg, loaded on first use; SVG keeps text
as `<text>`). HTML is an inline SVG chart with a small inline script for the
tooltips; it holds no URL, external script, stylesheet or font, and does not
load matplotlib.

Errors (-32602): a missing or malformed `sentiment` or a part the chart needs
(the message names the field), an empty timeline or no speakers, x_axis
`time` with a segment that has no start.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec

from qualia.plugin_sdk import Document, Figure, InputError, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input

ARTEFACT = "sentiment"
T = TypeVar("T")
Label = Literal["positive", "neutral", "negative"]
LABELS: tuple[Label, ...] = ("positive", "neutral", "negative")
LABEL_COLORS: dict[str, str] = {"positive": "#2e7d32", "neutral": "#8d8d8d", "negative": "#c62828"}
ROLLING_COLOR = "#1f3b73"
TITLES = {"timeline": "Sentiment over the conversation", "speakers": "Mean polarity by speaker",
          "distribution": "Segments by sentiment"}


class Thresholds(msgspec.Struct):
    positive: float
    negative: float


class SegmentScore(msgspec.Struct):
    index: int
    polarity: float
    label: Label
    speaker: str | None = None
    start: float | None = None
    text: str = ""
    subjectivity: float | None = None


class SpeakerScore(msgspec.Struct):
    polarity: float
    label: Label
    subjectivity: float | None = None
    segments: int | None = None


class TimelinePoint(msgspec.Struct):
    index: int
    polarity: float
    rolling: float | None = None
    start: float | None = None


class Distribution(msgspec.Struct):
    positive: int = 0
    neutral: int = 0
    negative: int = 0


class Sentiment(msgspec.Struct):
    """The part of sentiment_analyzer's result this plugin reads; each chart needs only some of it."""

    thresholds: Thresholds | None = None
    segments: list[SegmentScore] = []
    speakers: dict[str, SpeakerScore] | None = None
    timeline: list[TimelinePoint] | None = None
    distribution: Distribution | None = None


def need(value: T | None, field: str, chart: str) -> T:
    if value is None:
        raise InputError(f"input {ARTEFACT!r} has no `{ARTEFACT}.{field}`, which the {chart} chart needs",
                         {"artefact": ARTEFACT, "field": field})
    return value


@dataclass(frozen=True)
class Point:
    """One timeline point, ready to draw."""

    x: float
    polarity: float
    rolling: float | None
    label: Label
    tip: str


@dataclass(frozen=True)
class Chart:
    """What is drawn, whatever the output format; only the part of `kind` is set."""

    kind: str
    title: str
    width: int
    height: int
    thresholds: Thresholds | None = None
    points: list[Point] | None = None
    time_axis: bool = False
    speakers: dict[str, SpeakerScore] | None = None
    distribution: Distribution | None = None


class SentimentViz(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        chart = build_chart(read_input(inputs, ARTEFACT, Sentiment), config)
        fmt = config["format"]
        if fmt == "html":
            from .page import html_chart

            return Figure.of_format(html_chart(chart), fmt)
        from .plot import plot  # matplotlib loads here, on the first PNG/SVG only

        return Figure.of_format(plot(chart, fmt), fmt)


def build_chart(data: Sentiment, config: dict[str, Any]) -> Chart:
    kind = config["chart"]
    common: dict[str, Any] = {"kind": kind, "title": config["title"] or TITLES[kind], "width": config["width"],
                              "height": config["height"]}
    if kind == "distribution":
        return Chart(**common, distribution=need(data.distribution, "distribution", kind))
    thresholds = need(data.thresholds, "thresholds", kind)
    if kind == "speakers":
        speakers = need(data.speakers, "speakers", kind)
        if not speakers:
            raise InputError(f"nothing to draw: {ARTEFACT}.speakers is empty (the document has no speaker "
                             "segments)", {"artefact": ARTEFACT, "field": "speakers"})
        return Chart(**common, thresholds=thresholds, speakers=speakers)
    timeline = need(data.timeline, "timeline", kind)
    if not timeline:
        raise InputError(f"nothing to draw: {ARTEFACT}.timeline is empty", {"artefact": ARTEFACT, "field": "timeline"})
    time_axis = use_time_axis(timeline, config["x_axis"])
    return Chart(**common, thresholds=thresholds, time_axis=time_axis,
                 points=timeline_points(timeline, data.segments, thresholds, time_axis))


def use_time_axis(timeline: list[TimelinePoint], x_axis: str) -> bool:
    missing = next((i for i, point in enumerate(timeline) if point.start is None), None)
    if x_axis == "time" and missing is not None:
        raise InputError(f"x_axis 'time' needs a start on every point, but {ARTEFACT}.timeline[{missing}].start "
                         "is null", {"key": "x_axis"})
    return x_axis == "time" or (x_axis == "auto" and missing is None)


def label_of(polarity: float, thresholds: Thresholds) -> Label:
    """sentiment_analyzer's rule, for a point without its segment."""
    if polarity >= thresholds.positive:
        return "positive"
    return "negative" if polarity <= thresholds.negative else "neutral"


def clock(seconds: float) -> str:
    """1:05, or 1:02:05 past an hour."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def timeline_points(timeline: list[TimelinePoint], segments: list[SegmentScore], thresholds: Thresholds,
                    time_axis: bool) -> list[Point]:
    by_index = {segment.index: segment for segment in segments}
    points = []
    for point in timeline:
        segment = by_index.get(point.index)
        label = segment.label if segment else label_of(point.polarity, thresholds)
        lines = [f"#{point.index + 1}" + (f" at {clock(point.start)}" if point.start is not None else "")
                 + (f" · {segment.speaker}" if segment and segment.speaker else ""),
                 f"polarity {point.polarity:+.3f} ({label})"]
        if point.rolling is not None:
            lines.append(f"rolling mean {point.rolling:+.3f}")
        if segment and segment.subjectivity is not None:
            lines.append(f"subjectivity {segment.subjectivity:.2f}")
        if segment and segment.text:
            text = " ".join(segment.text.split())
            lines.append(f"“{text[:157] + '…' if len(text) > 160 else text}”")
        x = point.start if time_axis and point.start is not None else float(point.index + 1)  # segment number
        points.append(Point(x=x, polarity=point.polarity, rolling=point.rolling, label=label, tip="\n".join(lines)))
    return points


def speaker_tip(name: str, score: SpeakerScore) -> str:
    lines = [name, f"mean polarity {score.polarity:+.3f} ({score.label})"]
    if score.segments is not None:
        lines.append(f"{score.segments} segment{'s' if score.segments != 1 else ''}")
    if score.subjectivity is not None:
        lines.append(f"subjectivity {score.subjectivity:.2f}")
    return "\n".join(lines)


def distribution_tip(label: str, count: int, total: int) -> str:
    share = f" ({count / total:.1%})" if total else ""
    return f"{label}: {count} segment{'s' if count != 1 else ''}{share}"
