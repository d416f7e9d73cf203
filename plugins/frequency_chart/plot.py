"""The PNG and SVG output of frequency_chart, drawn with matplotlib (Agg, no pyplot)."""
from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure as MplFigure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from plugin_sdk.charts import PALETTE  # noqa: E402

from . import Bars  # noqa: E402

DPI = 100
RC = {
    "svg.fonttype": "none",  # SVG keeps text as <text> (searchable, accents intact) rather than paths
    "svg.hashsalt": "qualia",  # stable element ids: same input, same SVG
    "text.parse_math": False,  # a "$" in a term or a name is text, not mathtext
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def plot(bars: Bars, fmt: str) -> bytes:
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a glyph missing from the font: draw anyway
        figure = MplFigure(figsize=(bars.width / DPI, bars.height / DPI), dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
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
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}  # stable across runs and versions
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()
