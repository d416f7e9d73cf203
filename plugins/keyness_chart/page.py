"""The HTML output of keyness_chart: an inline SVG diverging bar chart with hover tooltips, no matplotlib."""
from __future__ import annotations

from qualia.plugins._charts.svg import Series, bar_chart, html_page

from . import NEGATIVE, POSITIVE, Chart


def html_chart(chart: Chart) -> str:
    if not chart.bars:
        return html_page(chart.title, "", legend_items=chart.legend, note=chart.note)
    series = Series(name="keywords", values=[b.value for b in chart.bars], color=POSITIVE,
                    colors=[POSITIVE if b.positive else NEGATIVE for b in chart.bars], tips=[b.tip for b in chart.bars])
    svg = bar_chart([b.term for b in chart.bars], [series], width=chart.width, height=chart.height, horizontal=True,
                    value_label=chart.axis)
    return html_page(chart.title, svg, legend_items=chart.legend, note=chart.note)
