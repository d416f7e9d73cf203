"""Deterministic matplotlib figures for visualizer plugins (Agg backend, no pyplot).

Import this module only where a figure is drawn: matplotlib takes about 0.4 s
to import, which a plugin should not pay at start-up or for HTML output.
"""
from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402

DPI = 100
RC = {
    "svg.fonttype": "none",  # SVG keeps text as <text> (searchable, accents intact) rather than paths
    "svg.hashsalt": "qualia",  # stable element ids: same input, same SVG
    "text.parse_math": False,  # a "$" in a term or a name is text, not mathtext
    "font.family": "DejaVu Sans",  # shipped with matplotlib, has the Portuguese accents
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def drawing(width: int, height: int, rows: int = 1) -> Iterator[tuple[Figure, Any]]:
    """A figure of `width` x `height` pixels with one axes (or a list of `rows` axes, stacked); save it
    (`to_bytes`) inside the block."""
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a glyph missing from the font: draw anyway
        figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        yield figure, (figure.add_subplot() if rows == 1 else list(figure.subplots(rows, 1)))


def to_bytes(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}  # stable across runs and versions
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()
