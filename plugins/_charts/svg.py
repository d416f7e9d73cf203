"""Self-contained SVG and HTML charts for visualizer plugins.

Plain string building on the standard library: no matplotlib, no JavaScript
library, no CSS or font from the network. A page from `html_page` holds no URL
at all (inline SVG needs no xmlns), so it opens offline and embeds as is.

Caller text (terms, speaker names, titles) always goes through `esc`. A mark
carries its tooltip as an SVG `<title>`: browsers show that natively, and the
page's small inline script turns it into a tooltip that follows the pointer.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Callable, Sequence

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
"""Series colours (Tableau 10), cycled."""
AXIS_COLOR = "#555"
GRID_COLOR = "#e3e3e3"
FONT_SIZE = 12


def esc(value: object) -> str:
    """Text safe inside an HTML/SVG element or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def fmt_number(value: float) -> str:
    """A short label: whole numbers without decimals, others with up to 3."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Rough rendered width of `text` in a sans-serif font (no font metrics needed)."""
    return len(text) * size * 0.6


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high].

    `integer` keeps steps whole (counts).
    """
    if high <= low:
        high = low + 1
    raw = max((high - low) / max(1, count), 1.0 if integer else 0.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10)
                if m * power >= raw and (not integer or float(m * power).is_integer()))
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10) + 0.0)  # + 0.0 turns -0.0 into 0.0
        value += step
    return ticks


@dataclass(frozen=True)
class Scale:
    """Linear map from the data interval [low, high] to the pixel interval [start, end]."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return round(self.start + (value - self.low) / span * (self.end - self.start), 2)


@dataclass(frozen=True)
class Frame:
    """An SVG canvas of width x height and the plotting area inside its margins."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.top

    @property
    def y1(self) -> float:
        return self.height - self.bottom


def svg_open(frame: Frame, label: str) -> str:
    """The opening tag of an inline SVG that scales with its container."""
    return (f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
            f'height="{frame.height}" role="img" aria-label="{esc(label)}">')


def tip(text: str) -> str:
    """A tooltip for the enclosing mark."""
    return f"<title>{esc(text)}</title>"


def value_axis(frame: Frame, scale: Scale, ticks: Sequence[float], *, vertical: bool, label: str = "",
               fmt: Callable[[float], str] = fmt_number) -> str:
    """Grid lines and tick labels for values; `vertical` puts values on the y axis (left)."""
    parts = []
    for value in ticks:
        pos = scale(value)
        if vertical:
            parts.append(f'<line x1="{frame.x0}" x2="{frame.x1}" y1="{pos}" y2="{pos}" stroke="{GRID_COLOR}"/>'
                         f'<text x="{frame.x0 - 6}" y="{pos}" text-anchor="end" dominant-baseline="middle">'
                         f"{esc(fmt(value))}</text>")
        else:
            parts.append(f'<line x1="{pos}" x2="{pos}" y1="{frame.y0}" y2="{frame.y1}" stroke="{GRID_COLOR}"/>'
                         f'<text x="{pos}" y="{frame.y1 + 16}" text-anchor="middle">{esc(fmt(value))}</text>')
    if label and vertical:
        middle = (frame.y0 + frame.y1) / 2
        parts.append(f'<text class="axis-label" transform="translate(14,{middle}) rotate(-90)" '
                     f'text-anchor="middle">{esc(label)}</text>')
    elif label:
        parts.append(f'<text class="axis-label" x="{(frame.x0 + frame.x1) / 2}" y="{frame.height - 6}" '
                     f'text-anchor="middle">{esc(label)}</text>')
    return "".join(parts)


def rule_line(frame: Frame, pos: float, *, vertical: bool = False, color: str = AXIS_COLOR,
              dashed: bool = False, label: str = "") -> str:
    """A line across the plot: horizontal at y = pos, or `vertical` at x = pos; optionally labelled."""
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    if vertical:
        line = f'<line x1="{pos}" x2="{pos}" y1="{frame.y0}" y2="{frame.y1}" stroke="{color}"{dash}/>'
        anchor = f'x="{pos + 4}" y="{frame.y0 + 10}" text-anchor="start"'
    else:
        line = f'<line x1="{frame.x0}" x2="{frame.x1}" y1="{pos}" y2="{pos}" stroke="{color}"{dash}/>'
        anchor = f'x="{frame.x1 - 4}" y="{pos - 4}" text-anchor="end"'
    if label:
        line += f'<text {anchor} class="rule-label" fill="{color}">{esc(label)}</text>'
    return line


@dataclass(frozen=True)
class Series:
    """Bars of one kind, one value per category (None: no bar).

    `colors` overrides `color` bar by bar; `tips` overrides the default
    tooltip ("category: value") bar by bar.
    """

    name: str
    values: Sequence[float | None]
    color: str
    colors: Sequence[str] | None = None
    tips: Sequence[str] | None = None


@dataclass(frozen=True)
class Rule:
    """A dashed reference line at a value, e.g. a threshold."""

    value: float
    label: str
    color: str = AXIS_COLOR


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, width: int, height: int,
              horizontal: bool = False, value_label: str = "", rules: Sequence[Rule] = (),
              integer: bool = False, show_values: bool = False) -> str:
    """An SVG bar chart: one band per category, side by side bars per series (grouped bars).

    Vertical bars by default, `horizontal` for a ranked list read top to
    bottom. Negative values grow from the zero line. `integer` keeps ticks
    whole (counts); `show_values` writes each value at the end of its bar.
    """
    values = [v for s in series for v in s.values if v is not None]
    ticks = nice_ticks(min([0.0, *values, *(r.value for r in rules)]),
                       max([0.0, *values, *(r.value for r in rules)]), integer=integer)
    labels = [shorten(c, 28) for c in categories]
    longest = max((text_width(c) for c in labels), default=0)
    count = max(1, len(categories))
    rotate = False
    if horizontal:
        frame = Frame(width, height, left=min(longest + 14, width * 0.4), top=10, right=24,
                      bottom=44 if value_label else 28)
        scale = Scale(ticks[0], ticks[-1], frame.x0, frame.x1)
        band = (frame.y1 - frame.y0) / count
    else:
        rotate = longest > (width - 80) / count - 4
        frame = Frame(width, height, left=64 if value_label else 48, top=20, right=16,
                      bottom=min(longest * 0.72 + 22, height * 0.4) if rotate else 30)
        scale = Scale(ticks[0], ticks[-1], frame.y1, frame.y0)
        band = (frame.x1 - frame.x0) / count
    thickness = round(band * 0.8 / max(1, len(series)), 2)
    zero = scale(0.0)
    parts = [value_axis(frame, scale, ticks, vertical=not horizontal, label=value_label)]
    for index, category in enumerate(categories):
        band_start = (frame.y0 if horizontal else frame.x0) + index * band
        for number, s in enumerate(series):
            value = s.values[index]
            if value is None:
                continue
            offset = round(band_start + band * 0.1 + number * thickness, 2)
            edge = scale(value)
            size = round(max(abs(edge - zero), 0.5), 2)  # a zero still leaves a sliver to hover
            start = min(edge, zero)
            box = (start, offset, size, thickness) if horizontal else (offset, start, thickness, size)
            text = s.tips[index] if s.tips else f"{category}: {fmt_number(value)}"
            parts.append(f'<rect class="mark" x="{box[0]}" y="{box[1]}" width="{box[2]}" height="{box[3]}" '
                         f'fill="{s.colors[index] if s.colors else s.color}">{tip(text)}</rect>')
            if show_values:
                parts.append(value_text(value, edge, offset + thickness / 2, horizontal))
        parts.append(category_text(category, labels[index], frame, round(band_start + band / 2, 2),
                                   horizontal=horizontal, rotate=rotate))
    parts.append(rule_line(frame, zero, vertical=horizontal))
    parts.extend(rule_line(frame, scale(r.value), vertical=horizontal, color=r.color, dashed=True, label=r.label)
                 for r in rules)
    return svg_open(frame, value_label or "bar chart") + "".join(parts) + "</svg>"


def value_text(value: float, edge: float, middle: float, horizontal: bool) -> str:
    """A bar's value just past its end."""
    ahead = value >= 0
    if horizontal:
        return (f'<text class="value" x="{edge + (4 if ahead else -4)}" y="{round(middle, 2)}" '
                f'text-anchor="{"start" if ahead else "end"}" dominant-baseline="middle">{fmt_number(value)}</text>')
    return (f'<text class="value" x="{round(middle, 2)}" y="{edge + (-4 if ahead else 12)}" '
            f'text-anchor="middle">{fmt_number(value)}</text>')


def category_text(category: str, label: str, frame: Frame, center: float, *, horizontal: bool,
                  rotate: bool) -> str:
    """A category's name beside its band; a shortened one keeps the full name as tooltip."""
    title = tip(category) if label != category else ""
    if horizontal:
        return (f'<text x="{frame.x0 - 6}" y="{center}" text-anchor="end" dominant-baseline="middle">'
                f"{esc(label)}{title}</text>")
    if rotate:
        return (f'<text transform="translate({center},{frame.y1 + 10}) rotate(-40)" text-anchor="end" '
                f'dominant-baseline="middle">{esc(label)}{title}</text>')
    return f'<text x="{center}" y="{frame.y1 + 18}" text-anchor="middle">{esc(label)}{title}</text>'


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend: (label, colour) pairs."""
    entries = "".join(f'<li><span class="swatch" style="background:{esc(color)}"></span>{esc(label)}</li>'
                      for label, color in items)
    return f'<ul class="legend">{entries}</ul>' if items else ""


_CSS = """
body{margin:0;padding:16px;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#222;background:#fff}
figure{margin:0}
figcaption{font-size:18px;font-weight:600;margin:0 0 8px}
svg.chart{max-width:100%;height:auto;font-size:12px;fill:#333;overflow:visible}
svg.chart .axis-label{font-size:13px;fill:#555}
svg.chart .rule-label,svg.chart .value{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg.chart .mark:hover{opacity:.75}
.legend{list-style:none;padding:0;margin:0 0 8px;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border-radius:2px}
.note{font-size:12px;color:#666;margin:6px 0 0}
#tooltip{position:fixed;pointer-events:none;background:rgba(20,20,20,.9);color:#fff;padding:6px 8px;
border-radius:4px;font-size:12px;white-space:pre-line;max-width:360px;z-index:10}
"""

# Moves each mark's <title> into a data attribute (so the native tooltip does not
# double up) and shows it in a box next to the pointer. Uses textContent only.
_JS = """
(function () {
  var box = document.getElementById("tooltip");
  document.querySelectorAll("svg.chart title").forEach(function (t) {
    t.parentNode.setAttribute("data-tip", t.textContent);
    t.parentNode.removeChild(t);
  });
  function show(e) {
    var mark = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!mark) { box.hidden = true; return; }
    box.textContent = mark.getAttribute("data-tip");
    box.hidden = false;
    var x = e.clientX + 14, y = e.clientY + 14, r = box.getBoundingClientRect();
    if (x + r.width > window.innerWidth) { x = e.clientX - r.width - 14; }
    if (y + r.height > window.innerHeight) { y = e.clientY - r.height - 14; }
    box.style.left = Math.max(0, x) + "px";
    box.style.top = Math.max(0, y) + "px";
  }
  document.addEventListener("pointermove", show);
  document.addEventListener("pointerdown", show);
  document.documentElement.addEventListener("pointerleave", function () { box.hidden = true; });
})();
"""


def html_page(title: str, chart: str, *, legend_items: Sequence[tuple[str, str]] = (), note: str = "") -> str:
    """A complete, self-contained HTML document around one inline SVG chart."""
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return (f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<figure>\n<figcaption>{esc(title)}</figcaption>\n{legend(legend_items)}\n{chart}\n{note_html}\n"
            f'</figure>\n<div id="tooltip" hidden></div>\n<script>{_JS}</script>\n</body>\n</html>\n')
