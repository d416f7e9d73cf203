"""The HTML output of keyness_chart: inline SVG diverging bar charts with hover tooltips, no matplotlib."""
from __future__ import annotations

from qualia.plugins._charts.svg import Series, bar_chart, esc, html_page, legend

from . import NEGATIVE, POSITIVE, Chart, Panel


def panel_svg(chart: Chart, panel: Panel) -> str:
    if not panel.bars:
        return ""
    series = Series(name="keywords", values=[b.value for b in panel.bars], color=POSITIVE,
                    colors=[POSITIVE if b.positive else NEGATIVE for b in panel.bars], tips=[b.tip for b in panel.bars])
    return bar_chart([b.term for b in panel.bars], [series], width=chart.width, height=chart.height, horizontal=True,
                     value_label=chart.axis)


def html_chart(chart: Chart) -> str:
    if len(chart.panels) == 1:
        [panel] = chart.panels
        return html_page(chart.title, panel_svg(chart, panel), legend_items=panel.legend, note=panel.note)
    sections = "\n".join(f'<section><h2 style="font-size:16px;margin:18px 0 4px">{esc(panel.heading)}</h2>'
                          f'{legend(panel.legend)}{panel_svg(chart, panel)}<p class="note">{esc(panel.note)}</p>'
                          "</section>" for panel in chart.panels)
    return html_page(chart.title, sections, note=chart.note)
