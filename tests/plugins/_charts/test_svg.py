"""qualia.plugins._charts.svg: the self-contained SVG/HTML chart helpers shared by the bundled visualizers."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from qualia.plugins._charts.svg import Rule, Scale, Series, bar_chart, esc, fmt_number, html_page, nice_ticks


@pytest.mark.parametrize(("low", "high", "integer", "expected"), [
    (0, 5, True, [0, 1, 2, 3, 4, 5]),
    (0, 2, True, [0, 1, 2]),  # counts never get half ticks
    (0, 12, True, [0, 5, 10, 15]),
    (-1, 1, False, [-1, -0.5, 0, 0.5, 1]),
    (-0.3, 0.8, False, [-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1]),
    (0, 0, False, [0, 0.2, 0.4, 0.6, 0.8, 1]),  # an empty range still gets an axis
])
def test_nice_ticks_cover_the_range_in_round_steps(low: float, high: float, integer: bool,
                                                   expected: list[float]) -> None:
    assert nice_ticks(low, high, integer=integer) == expected


def test_scale_maps_linearly_and_can_flip() -> None:
    y = Scale(-1, 1, 100, 0)  # SVG y grows downwards
    assert (y(-1), y(0), y(1)) == (100, 50, 0)


def test_numbers_and_text() -> None:
    assert (fmt_number(3.0), fmt_number(0.125), fmt_number(1 / 3)) == ("3", "0.125", "0.333")
    assert esc('<b>&"\'') == "&lt;b&gt;&amp;&quot;&#x27;"


def test_bar_chart_is_well_formed_escaped_and_handles_negatives_and_gaps() -> None:
    svg = bar_chart(["<b>&", "ação", "x" * 60], [
        Series("a", [2, -1, None], "#111"),
        Series("b", [1, 0, 3], "#222", colors=["#a00", "#0a0", "#00a"], tips=["one", "two", "<three>"]),
    ], width=400, height=300, value_label="count", rules=[Rule(0.5, "half")], show_values=True)
    root = ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 5  # the gap (None) draws no bar; a zero still gets a sliver to hover
    assert all(float(r.get("height", 0)) > 0 for r in rects)
    assert "<b>&" not in svg and "&lt;b&gt;&amp;" in svg and "&lt;three&gt;" in svg
    assert "ação" in svg
    assert f"{'x' * 27}…<title>{'x' * 60}</title>" in svg  # a long label is shortened, its full name a tooltip
    assert [rects[i].get("fill") for i in (1, 3, 4)] == ["#a00", "#0a0", "#00a"]  # per-bar colours of series b


def test_horizontal_bar_chart_lists_categories_top_to_bottom() -> None:
    svg = bar_chart(["first", "second"], [Series("n", [5, 3], "#111")], width=300, height=200, horizontal=True)
    first, second = (float(m) for m in re.findall(r'<rect class="mark" x="[\d.]+" y="([\d.]+)"', svg))
    assert first < second


def test_html_page_is_self_contained() -> None:
    page = html_page('<script>alert("x")</script>', bar_chart(["a"], [Series("n", [1], "#111")], width=300,
                                                             height=200), legend_items=[("<i>", "#123456")],
                     note="a & b")
    lowered = page.lower()
    for forbidden in ("http://", "https://", "//cdn", "<script src", "<link", "@import", "url("):
        assert forbidden not in lowered
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "&lt;i&gt;" in page and "a &amp; b" in page
    assert page.count("<script>") == 1  # only the inline tooltip script
