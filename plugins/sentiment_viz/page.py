"""The HTML output of sentiment_viz: inline SVG charts with hover tooltips, no matplotlib."""
from __future__ import annotations

import math

from qualia.plugins._charts.svg import (
    GRID_COLOR, Frame, Rule, Scale, Series, bar_chart, fmt_number, html_page, nice_ticks, rule_line, svg_open,
    tip, value_axis,
)

from . import LABEL_COLORS, LABELS, ROLLING_COLOR, Chart, Point, clock, distribution_tip, speaker_tip

TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # seconds between time ticks
BAND_OPACITY = 0.09


def time_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Tick values in seconds on round clock steps (0:30, 1:00, 5:00, ...) within [low, high]."""
    raw = (high - low) / count
    step = next((s for s in TIME_STEPS if s >= raw), math.ceil(raw / 3600) * 3600)
    first = math.ceil(low / step) * step
    return [float(first + k * step) for k in range(int((high - first) // step) + 1)]


def polyline(points: list[tuple[float, float]], color: str, width: float, opacity: float = 1.0) -> str:
    coordinates = " ".join(f"{x},{y}" for x, y in points)
    return (f'<polyline points="{coordinates}" fill="none" stroke="{color}" stroke-width="{width}" '
            f'stroke-opacity="{opacity}" stroke-linejoin="round"/>')


def timeline_svg(chart: Chart) -> str:
    assert chart.points is not None and chart.thresholds is not None
    points: list[Point] = chart.points
    thresholds = chart.thresholds
    frame = Frame(chart.width, chart.height, left=64, top=12, right=16, bottom=46)
    values = [p.polarity for p in points] + [p.rolling for p in points if p.rolling is not None]
    low, high = min(-1.0, *values), max(1.0, *values)
    y = Scale(low, high, frame.y1, frame.y0)
    first, last = points[0].x, points[-1].x
    pad = max((last - first) * 0.02, 0.5 if not chart.time_axis else 1.0)
    x = Scale(min(p.x for p in points) - pad, max(p.x for p in points) + pad, frame.x0, frame.x1)
    if chart.time_axis:
        x_ticks, x_format, x_label = time_ticks(x.low, x.high), clock, "time"
    else:
        x_ticks = [t for t in nice_ticks(x.low, x.high, 8, integer=True) if x.low <= t <= x.high]
        x_format, x_label = fmt_number, "segment"

    parts = [
        # the positive and negative zones, under everything else
        f'<rect x="{frame.x0}" y="{y(high)}" width="{frame.x1 - frame.x0}" height="{y(thresholds.positive) - y(high)}" '
        f'fill="{LABEL_COLORS["positive"]}" fill-opacity="{BAND_OPACITY}"/>',
        f'<rect x="{frame.x0}" y="{y(thresholds.negative)}" width="{frame.x1 - frame.x0}" '
        f'height="{y(low) - y(thresholds.negative)}" fill="{LABEL_COLORS["negative"]}" fill-opacity="{BAND_OPACITY}"/>',
        value_axis(frame, y, nice_ticks(low, high, 4), vertical=True, label="polarity"),
        value_axis(frame, x, x_ticks, vertical=False, label=x_label, fmt=x_format),
        rule_line(frame, y(0.0), color=GRID_COLOR),
        rule_line(frame, y(thresholds.positive), color=LABEL_COLORS["positive"], dashed=True,
                  label=f"positive ≥ {thresholds.positive:g}"),
        rule_line(frame, y(thresholds.negative), color=LABEL_COLORS["negative"], dashed=True,
                  label=f"negative ≤ {thresholds.negative:g}"),
        polyline([(x(p.x), y(p.polarity)) for p in points], "#999", 1, 0.7),
    ]
    run: list[tuple[float, float]] = []  # the rolling mean, broken where it is null
    for p in [*points, None]:
        if p is not None and p.rolling is not None:
            run.append((x(p.x), y(p.rolling)))
        elif run:
            parts.append(polyline(run, ROLLING_COLOR, 2.5))
            run = []
    radius = round(max(2.0, min(5.0, (frame.x1 - frame.x0) / len(points) / 2.5)), 1)
    parts.extend(f'<circle class="mark" cx="{x(p.x)}" cy="{y(p.polarity)}" r="{radius}" '
                 f'fill="{LABEL_COLORS[p.label]}">{tip(p.tip)}</circle>' for p in points)
    return svg_open(frame, chart.title) + "".join(parts) + "</svg>"


def html_chart(chart: Chart) -> str:
    labels = [(label, LABEL_COLORS[label]) for label in LABELS]
    if chart.kind == "timeline":
        return html_page(chart.title, timeline_svg(chart), legend_items=[*labels, ("rolling mean", ROLLING_COLOR)])
    if chart.kind == "speakers":
        assert chart.speakers is not None and chart.thresholds is not None
        names = list(chart.speakers)
        scores = list(chart.speakers.values())
        series = Series("mean polarity", [s.polarity for s in scores], LABEL_COLORS["neutral"],
                        colors=[LABEL_COLORS[s.label] for s in scores],
                        tips=[speaker_tip(name, s) for name, s in zip(names, scores)])
        positive, negative = chart.thresholds.positive, chart.thresholds.negative
        rules = [Rule(positive, f"positive ≥ {positive:g}", LABEL_COLORS["positive"]),
                 Rule(negative, f"negative ≤ {negative:g}", LABEL_COLORS["negative"])]
        svg = bar_chart(names, [series], width=chart.width, height=chart.height, value_label="mean polarity",
                        rules=rules)
        return html_page(chart.title, svg, legend_items=labels)
    assert chart.distribution is not None
    counts = [getattr(chart.distribution, label) for label in LABELS]
    series = Series("segments", counts, LABEL_COLORS["neutral"], colors=[LABEL_COLORS[label] for label in LABELS],
                    tips=[distribution_tip(label, count, sum(counts)) for label, count in zip(LABELS, counts)])
    svg = bar_chart(list(LABELS), [series], width=chart.width, height=chart.height, value_label="segments",
                    integer=True, show_values=True)
    return html_page(chart.title, svg)
