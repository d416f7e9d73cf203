"""The PNG and SVG output of sentiment_viz, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from . import LABEL_COLORS, LABELS, ROLLING_COLOR, Chart, clock  # noqa: E402

DPI = 100
RC = {
    "svg.fonttype": "none",  # SVG keeps text as <text> (searchable, accents intact) rather than paths
    "svg.hashsalt": "qualia",  # stable element ids: same input, same SVG
    "text.parse_math": False,  # a "$" in a speaker's name is text, not mathtext
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def plot(chart: Chart, fmt: str) -> bytes:
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a glyph missing from the font: draw anyway
        figure = MplFigure(figsize=(chart.width / DPI, chart.height / DPI), dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
        {"timeline": draw_timeline, "speakers": draw_speakers, "distribution": draw_distribution}[chart.kind](
            axes, chart)
        axes.set_axisbelow(True)
        axes.set_title(chart.title)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}  # stable across runs and versions
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


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
