"""The PNG and SVG output of speaker_stats_chart, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

from matplotlib.ticker import MaxNLocator

from qualia.plugins._charts.mpl import drawing, to_bytes

from . import Chart


def plot(chart: Chart, fmt: str) -> bytes:
    with drawing(chart.width, chart.height) as (figure, axes):
        count = len(chart.series)
        thickness = 0.8 / count
        positions = range(len(chart.names))
        for number, (label, values, color) in enumerate(chart.series):
            offsets = [p - 0.4 + thickness * (number + 0.5) for p in positions]
            bars = axes.barh(offsets, values, height=thickness, color=color, label=label)
            axes.bar_label(bars, fmt="{:g}", padding=3, fontsize="small")
        axes.set_yticks(list(positions), chart.names)
        axes.invert_yaxis()  # the largest on top
        axes.set_xlabel(chart.axis)
        if chart.integer:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="x", color="#e3e3e3")
        axes.set_axisbelow(True)
        axes.margins(x=0.08)
        if count > 1:
            axes.legend(frameon=False, fontsize="small", loc="lower right")
        axes.set_title(chart.title, fontsize="medium")
        figure.supxlabel(chart.note, x=0.01, ha="left", fontsize="x-small", color="#555555")
        return to_bytes(figure, fmt)
