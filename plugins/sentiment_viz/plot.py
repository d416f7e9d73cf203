"""The PNG and SVG output of sentiment_viz, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from qualia.plugins._charts.mpl import drawing, to_bytes

from . import LABEL_COLORS, LABELS, ROLLING_COLOR, Chart, clock


def plot(chart: Chart, fmt: str) -> bytes:
    with drawing(chart.width, chart.height) as (figure, axes):
        {"timeline": draw_timeline, "speakers": draw_speakers, "distribution": draw_distribution}[chart.kind](
            axes, chart)
        axes.set_axisbelow(True)
        axes.set_title(chart.title)
        return to_bytes(figure, fmt)


def label_handles(extra: list[Line2D] | None = None) -> list[Line2D]:
    dots = [Line2D([], [], marker="o", linestyle="", color=LABEL_COLORS[label], label=label) for label in LABELS]
    return dots + (extra or [])


def draw_timeline(axes: Axes, chart: Chart) -> None:
    assert chart.points is not None and chart.thresholds is not None
    points, thresholds = chart.points, chart.thresholds
    values = [p.polarity for p in points] + [p.rolling for p in points if p.rolling is not None]
    low, high = min(-1.0, *values) - 0.05, max(1.0, *values) + 0.05
    axes.axhspan(thresholds.positive, high, color=LABEL_COLORS["positive"], alpha=0.09, linewidth=0)
    axes.axhspan(low, thresholds.negative, color=LABEL_COLORS["negative"], alpha=0.09, linewidth=0)
    axes.axhline(thresholds.positive, color=LABEL_COLORS["positive"], linestyle="--", linewidth=0.8)
    axes.axhline(thresholds.negative, color=LABEL_COLORS["negative"], linestyle="--", linewidth=0.8)
    axes.axhline(0, color="#cccccc", linewidth=0.8)
    xs = [p.x for p in points]
    axes.plot(xs, [p.polarity for p in points], color="#999999", linewidth=0.8, alpha=0.7)
    rolling = [p.rolling if p.rolling is not None else float("nan") for p in points]  # nan breaks the line
    axes.plot(xs, rolling, color=ROLLING_COLOR, linewidth=2.2)
    axes.scatter(xs, [p.polarity for p in points], c=[LABEL_COLORS[p.label] for p in points],
                 s=max(6.0, min(30.0, 6000 / len(points))), zorder=3)
    axes.set_ylim(low, high)
    axes.set_ylabel("polarity")
    if chart.time_axis:
        axes.set_xlabel("time")
        axes.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 5, 6, 10]))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: clock(value)))
    else:
        axes.set_xlabel("segment")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    rolling_handle = Line2D([], [], color=ROLLING_COLOR, linewidth=2.2, label="rolling mean")
    axes.legend(handles=label_handles([rolling_handle]), frameon=False, fontsize="small", ncols=4,
                loc="upper center", bbox_to_anchor=(0.5, -0.12))


def draw_speakers(axes: Axes, chart: Chart) -> None:
    assert chart.speakers is not None and chart.thresholds is not None
    names = list(chart.speakers)
    scores = list(chart.speakers.values())
    axes.bar(range(len(names)), [s.polarity for s in scores], color=[LABEL_COLORS[s.label] for s in scores], width=0.6)
    axes.axhline(0, color="#555555", linewidth=0.8)
    axes.axhline(chart.thresholds.positive, color=LABEL_COLORS["positive"], linestyle="--", linewidth=0.8)
    axes.axhline(chart.thresholds.negative, color=LABEL_COLORS["negative"], linestyle="--", linewidth=0.8)
    rotate = sum(len(name) for name in names) * 7 > chart.width * 0.8
    axes.set_xticks(range(len(names)), names, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                    rotation_mode="anchor")
    axes.set_ylabel("mean polarity")
    axes.grid(axis="y", color="#e3e3e3")
    axes.legend(handles=label_handles(), frameon=False, fontsize="small", ncols=3)


def draw_distribution(axes: Axes, chart: Chart) -> None:
    assert chart.distribution is not None
    counts = [getattr(chart.distribution, label) for label in LABELS]
    bars = axes.bar(LABELS, counts, color=[LABEL_COLORS[label] for label in LABELS], width=0.6)
    axes.bar_label(bars, labels=[str(c) for c in counts], padding=2)
    axes.set_ylabel("segments")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", color="#e3e3e3")
