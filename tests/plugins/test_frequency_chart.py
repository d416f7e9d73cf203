"""frequency_chart: bar charts (PNG, SVG, self-contained HTML) from real word_frequency output."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qualia.plugin_sdk import Document, RpcError
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.frequency_chart import FrequencyChart
from qualia.plugins.word_frequency import WordFrequency
from tests.plugins.figures import ROOT, TRICKY, assert_self_contained, png_size, vtt_document, word_frequencies

STYLES = ["bar", "barh", "grouped"]


@pytest.fixture(scope="module")
def frequencies() -> dict[str, Any]:
    return word_frequencies()


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(FrequencyChart)


def render(harness: PluginHarness, inputs: dict[str, Any], **config: Any) -> Any:
    return harness.run(Document(text=""), config, {"word_frequencies": inputs})


@pytest.mark.parametrize("style", STYLES)
def test_png_has_the_configured_size(harness: PluginHarness, frequencies: dict[str, Any], style: str) -> None:
    figure = render(harness, frequencies, style=style, width=700, height=420)
    assert figure.media_type == "image/png"
    assert png_size(figure.data) == (700, 420)


@pytest.mark.parametrize("style", STYLES)
def test_svg_parses_and_keeps_accents_as_text(harness: PluginHarness, frequencies: dict[str, Any],
                                              style: str) -> None:
    figure = render(harness, frequencies, style=style, format="svg")
    assert figure.media_type == "image/svg+xml"
    root = ET.fromstring(figure.data)
    texts = " ".join(element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "ação" in texts and "reunião" in texts
    assert render(harness, frequencies, style=style, format="svg").data == figure.data  # deterministic


@pytest.mark.parametrize("style", STYLES)
def test_html_is_self_contained_with_tooltips(harness: PluginHarness, frequencies: dict[str, Any],
                                              style: str) -> None:
    figure = render(harness, frequencies, style=style, format="html")
    assert figure.media_type.startswith("text/html")
    page = figure.data.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    assert "ação" in page and "reunião" in page
    assert "<script>" in page  # the tooltip script is inline
    top = frequencies["frequencies"][0]
    shown = f"{top['count']} times in total" if style == "grouped" else f"{top['term']}: {top['count']} times"
    assert shown in page  # hover shows the count
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    ET.fromstring(svg.group(0))  # the inline chart is well-formed markup


def test_top_n_limits_the_bars(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    page = render(harness, frequencies, format="html", top_n=5).data.decode("utf-8")
    assert page.count('<rect class="mark"') == 5
    assert "Top 5 terms" in page


def test_grouped_html_has_a_bar_series_per_speaker_with_escaped_names(harness: PluginHarness,
                                                                      frequencies: dict[str, Any]) -> None:
    page = render(harness, frequencies, style="grouped", format="html", top_n=10).data.decode("utf-8")
    assert TRICKY not in page and "&lt;b&gt;&amp;" in page
    legend = re.search(r'<ul class="legend">(.*?)</ul>', page, re.S)
    assert legend is not None
    for speaker in frequencies["speakers"]:
        assert speaker.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in legend.group(1)
    assert "&lt;b&gt;&amp;\nação: 3 times" in page  # the tooltip names the speaker, term and count
    assert "A missing bar: the term is not in that speaker&#x27;s ranked list" in page  # gaps are explained


def test_grouped_svg_escapes_speaker_names(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    data = render(harness, frequencies, style="grouped", format="svg").data
    root = ET.fromstring(data)
    texts = {element.text for element in root.iter("{http://www.w3.org/2000/svg}text")}
    assert TRICKY in texts  # the legend, after XML unescaping
    assert TRICKY.encode() not in data


def test_title_is_escaped(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    title = '<script>alert("x")</script> & ação'
    page = render(harness, frequencies, format="html", title=title).data.decode("utf-8")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; ação" in page
    ET.fromstring(render(harness, frequencies, format="svg", title=title).data)


@pytest.mark.parametrize("fmt", ["jpeg", "pdf"])
def test_a_format_not_in_the_manifest_is_invalid_params(harness: PluginHarness, frequencies: dict[str, Any],
                                                         fmt: str) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, format=fmt)
    assert caught.value.code == -32602 and "format" in caught.value.message


def test_an_unknown_style_is_invalid_params(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, style="pie")
    assert caught.value.code == -32602 and "style" in caught.value.message


def test_missing_input_names_the_artefact(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        harness.run(Document(text="x"), {"format": "html"}, {"sentiment": {}})
    assert caught.value.code == -32602
    assert "word_frequencies" in caught.value.message


def test_malformed_input_names_the_field(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, {"frequencies": [{"term": 3, "count": 1}]}, format="html")
    assert caught.value.code == -32602
    assert "word_frequencies.frequencies[0].term" in caught.value.message


def test_grouped_without_speakers_is_invalid_params(harness: PluginHarness) -> None:
    plain = PluginHarness(WordFrequency).run(Document(text="A reunião sobre a ação de cadastro.", language="pt"))
    assert "ação" in render(harness, plain, format="html").data.decode("utf-8")
    with pytest.raises(RpcError) as caught:
        render(harness, plain, style="grouped", format="html")
    assert caught.value.code == -32602 and "speakers" in caught.value.message


def test_nothing_to_draw_is_invalid_params(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, {"frequencies": []}, format="svg")
    assert caught.value.code == -32602 and "nothing to draw" in caught.value.message


def test_bigrams_get_their_own_title(harness: PluginHarness) -> None:
    bigrams = PluginHarness(WordFrequency).run(vtt_document("teams_pt.vtt"), {"ngram": 2})
    page = render(harness, bigrams, format="html", top_n=8).data.decode("utf-8")
    assert "Top 8 bigrams" in page


def test_import_and_html_do_not_load_matplotlib(frequencies: dict[str, Any]) -> None:
    code = (
        "import json, sys\n"
        "from qualia.plugin_sdk import Document\n"
        "from qualia.plugin_sdk.testing import PluginHarness\n"
        "from qualia.plugins.frequency_chart import FrequencyChart\n"
        "loaded = 'matplotlib' in sys.modules\n"
        "inputs = {'word_frequencies': json.loads(sys.stdin.read())}\n"
        "PluginHarness(FrequencyChart).run(Document(text=''), {'format': 'html'}, inputs)\n"
        "print(loaded, 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=json.dumps(frequencies),
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_runs_as_a_real_process(frequencies: dict[str, Any]) -> None:
    answers = converse(ROOT / "plugins" / "frequency_chart", [
        {"document": {"text": ""}, "config": {"format": "html", "style": "barh"},
         "inputs": {"word_frequencies": frequencies}}])
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"]["id"] == "frequency_chart"
    assert answers[1]["result"]["media_type"] == "text/html; charset=utf-8"
