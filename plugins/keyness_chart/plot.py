"""The PNG and SVG output of keyness_chart, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import Patch

from qualia.plugins._charts.mpl import drawing, to_bytes

from . import NEGATIVE, POSITIVE, Chart, Panel


def plot(chart: Chart, fmt: str) -> bytes:
    rows = len(chart.panels)
    with drawing(chart.width, chart.height * rows, rows=rows) as (figure, axes):
        if rows == 1:
            [panel] = chart.panels
            draw(axes, panel, chart.axis)
            axes.set_title(chart.title, fontsize="medium")
            figure.supxlabel(panel.note, x=0.01, ha="left", fontsize="x-small", color="#555555")  # laid out
        else:
            for ax, panel in zip(axes, chart.panels):
                draw(ax, panel, chart.axis)
                ax.set_title(panel.heading, fontsize="medium", loc="left")
            figure.suptitle(chart.title)
            figure.supxlabel(chart.note, x=0.01, ha="left", fontsize="x-small", color="#555555")
        return to_bytes(figure, fmt)


def draw(axes: Axes, panel: Panel, label: str) -> None:
    positions = list(range(len(panel.bars)))
    axes.barh(positions, [b.value for b in panel.bars], height=0.7,
              color=[POSITIVE if b.positive else NEGATIVE for b in panel.bars])
    axes.set_yticks(positions, [b.term for b in panel.bars])
    axes.invert_yaxis()  # the strongest positive keyword on top
    axes.axvline(0, color="#555555", linewidth=0.8)
    axes.grid(axis="x", color="#e3e3e3")
    axes.set_axisbelow(True)
    axes.set_xlabel(label)
    if not panel.bars:
        axes.set_xlim(-1, 1)
        axes.set_yticks([])
        axes.text(0, 0.5, panel.note, transform=axes.transAxes, fontsize="small", color="#555555", wrap=True)
    axes.legend(handles=[Patch(color=color, label=text) for text, color in panel.legend], frameon=False,
                fontsize="small", loc="lower right")
