"""The PNG and SVG output of frequency_chart, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

from matplotlib.ticker import MaxNLocator

from qualia.plugins._charts.svg import PALETTE
from qualia.plugins._charts.mpl import drawing, to_bytes

from . import Bars


def plot(bars: Bars, fmt: str) -> bytes:
    with drawing(bars.width, bars.height) as (figure, axes):
        count = len(bars.groups)
        thickness = 0.8 / count
        positions = range(len(bars.terms))
        for number, group in enumerate(bars.groups):
            offsets = [p - 0.4 + thickness * (number + 0.5) for p in positions]
            values = [c if c is not None else 0 for c in group.counts]
            color = PALETTE[number % len(PALETTE)]
            if bars.style == "barh":
                axes.barh(offsets, values, height=thickness, color=color, label=group.name)
            else:
                axes.bar(offsets, values, width=thickness, color=color, label=group.name)
        if bars.style == "barh":
            axes.set_yticks(list(positions), bars.terms)
            axes.invert_yaxis()  # the most frequent on top
            axes.set_xlabel("count")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(axis="x", color="#e3e3e3")
        else:
            rotate = max(map(len, bars.terms)) * len(bars.terms) * 7 > bars.width * 0.8
            axes.set_xticks(list(positions), bars.terms, rotation=40 if rotate else 0,
                            ha="right" if rotate else "center", rotation_mode="anchor")
            axes.set_ylabel("count")
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(axis="y", color="#e3e3e3")
        axes.set_axisbelow(True)
        if bars.style == "grouped":
            axes.legend(frameon=False, fontsize="small", ncols=min(count, 4))
        axes.set_title(bars.title)
        return to_bytes(figure, fmt)
