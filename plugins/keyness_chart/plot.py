"""The PNG and SVG output of keyness_chart, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

from matplotlib.patches import Patch

from qualia.plugins._charts.mpl import drawing, to_bytes

from . import NEGATIVE, POSITIVE, Chart


def plot(chart: Chart, fmt: str) -> bytes:
    with drawing(chart.width, chart.height) as (figure, axes):
        positions = list(range(len(chart.bars)))
        axes.barh(positions, [b.value for b in chart.bars], height=0.7,
                  color=[POSITIVE if b.positive else NEGATIVE for b in chart.bars])
        axes.set_yticks(positions, [b.term for b in chart.bars])
        axes.invert_yaxis()  # the strongest positive keyword on top
        axes.axvline(0, color="#555555", linewidth=0.8)
        axes.grid(axis="x", color="#e3e3e3")
        axes.set_axisbelow(True)
        axes.set_xlabel(chart.axis)
        if not chart.bars:
            axes.set_xlim(-1, 1)
            axes.set_yticks([])
        axes.legend(handles=[Patch(color=color, label=label) for label, color in chart.legend], frameon=False,
                    fontsize="small", loc="lower right")
        axes.set_title(chart.title, fontsize="medium")
        figure.supxlabel(chart.note, x=0.01, ha="left", fontsize="x-small", color="#555555")  # laid out, not overlaid
        return to_bytes(figure, fmt)
