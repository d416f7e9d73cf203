"""The HTML output of frequency_chart: an inline SVG bar chart with hover tooltips, no matplotlib."""
from __future__ import annotations

from qualia.plugins._charts.svg import PALETTE, Series, bar_chart, fmt_number, html_page

from . import Bars, Group


def times(count: float) -> str:
    return f"{fmt_number(count)} time{'' if count == 1 else 's'}"


def tooltip(bars: Bars, group: Group, index: int) -> str:
    """What hovering a bar shows: (speaker,) term, count, share of the counted words (, count in total)."""
    count, share = group.counts[index], group.shares[index]
    if count is None:
        return ""  # no bar is drawn
    text = f"{bars.terms[index]}: {times(count)}" + (f" ({share:.1%} of counted words)" if share is not None else "")
    if bars.style == "grouped":
        return f"{group.name}\n{text}\n{times(bars.totals[index])} in total"
    return text


def html_chart(bars: Bars) -> str:
    grouped = bars.style == "grouped"
    series = [
        Series(name=group.name, values=group.counts, color=PALETTE[number % len(PALETTE)],
               tips=[tooltip(bars, group, i) for i in range(len(bars.terms))])
        for number, group in enumerate(bars.groups)
    ]
    chart = bar_chart(bars.terms, series, width=bars.width, height=bars.height,
                      horizontal=bars.style == "barh", value_label="count", integer=True)
    note = ("A missing bar: the term is not in that speaker's ranked list "
            "(raise word_frequency's top_n_per_speaker to see more).") if bars.has_gaps else ""
    legend = [(s.name, s.color) for s in series] if grouped else []
    return html_page(bars.title, chart, legend_items=legend, note=note)
