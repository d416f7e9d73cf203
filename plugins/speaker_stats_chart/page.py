"""The HTML output of speaker_stats_chart: an inline SVG bar chart with hover tooltips, no matplotlib."""
from __future__ import annotations

from qualia.plugins._charts.svg import Series, bar_chart, html_page

from . import Chart


def html_chart(chart: Chart) -> str:
    series = [Series(name=label, values=values, color=color, tips=chart.tips) for label, values, color in chart.series]
    svg = bar_chart(chart.names, series, width=chart.width, height=chart.height, horizontal=True,
                    value_label=chart.axis, integer=chart.integer, show_values=True)
    legend = [(label, color) for label, _, color in chart.series] if len(chart.series) > 1 else []
    return html_page(chart.title, svg, legend_items=legend, note=chart.note)
