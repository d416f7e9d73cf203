"""keyness_chart: diverging bars of a keyness comparison (PNG, SVG, self-contained HTML) from real keyness
output; labels in the analysis' language, a title naming the source, Okabe-Ito colours."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qualia.plugin_sdk import Document, InvalidParams
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins._charts.svg import PALETTE
from qualia.plugins.keyness import Keyness
from qualia.plugins.keyness_chart import NEGATIVE, POSITIVE, KeynessChart
from tests.plugins.figures import ROOT, SVG_TEXT, TRICKY, assert_self_contained, png_size, vtt_document

SOURCE = Document(id="teams_pt", text="", metadata={"filename": "teams_pt.vtt"})
LOOSE = {"min_frequency": 1, "correction": "none", "alpha": 0.5}  # tiny sample: let terms through


@pytest.fixture(scope="module")
def keyness() -> dict[str, Any]:
    return PluginHarness(Keyness).run(vtt_document("teams_pt.vtt"), LOOSE)


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(KeynessChart)


def render(harness: PluginHarness, keyness: dict[str, Any], document: Document = SOURCE, **config: Any) -> Any:
    return harness.run(document, config, {"keyness": keyness})


def test_png_has_the_configured_size(harness: PluginHarness, keyness: dict[str, Any]) -> None:
    figure = render(harness, keyness, width=700, height=500)
    assert figure.media_type == "image/png" and png_size(figure.data) == (700, 500)


def test_svg_is_deterministic_with_portuguese_labels_and_the_source(harness: PluginHarness,
                                                                    keyness: dict[str, Any]) -> None:
    figure = render(harness, keyness, format="svg")
    texts = " ".join(element.text or "" for element in ET.fromstring(figure.data).iter(SVG_TEXT))
    assert "Palavras-chave: Ana Souza × restante — teams_pt.vtt" in texts
    assert "mais frequente no restante" in texts and "Log Ratio" in texts
    assert render(harness, keyness, format="svg").data == figure.data
    svg = figure.data.decode("utf-8")
    assert POSITIVE.lower() in svg.lower() and NEGATIVE.lower() in svg.lower()


def test_html_bars_diverge_and_show_the_statistics(harness: PluginHarness, keyness: dict[str, Any]) -> None:
    page = render(harness, keyness, format="html", language="en").data.decode("utf-8")
    assert_self_contained(page)
    assert "Keywords: Ana Souza vs the rest — teams_pt.vtt" in page and "more frequent in the rest" in page
    comparison = keyness["comparisons"][0]
    positive, negative = comparison["positive"], comparison["negative"]
    assert positive and negative
    marks = re.findall(r'<rect class="mark" x="([\d.]+)" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="(#\w+)"', page)
    assert len(marks) == min(15, len(positive)) + min(15, len(negative))
    right = [float(x) for x, fill in marks if fill == POSITIVE]
    left = [float(x) for x, fill in marks if fill == NEGATIVE]
    assert min(right) > max(left)  # positive bars start at zero, negative ones end there
    top = positive[0]
    assert f"{top['term']}\nAna Souza: {top['target_count']}" in page
    assert f"Log Ratio {top['log_ratio']:+.2f}" in page
    assert f"{comparison['tested']} terms tested, no correction, alpha = 0.5" in page
    assert not any(color in page for color in PALETTE)  # Okabe-Ito, not the older charts' Tableau colours


def test_measure_comparison_and_title(harness: PluginHarness, keyness: dict[str, Any]) -> None:
    page = render(harness, keyness, format="html", comparison=TRICKY, measure="log_likelihood",
                  title="").data.decode("utf-8")
    assert "&lt;b&gt;&amp;" in page and TRICKY not in page  # escaped
    assert "log-verossimilhança" in page
    custom = render(harness, keyness, format="html", title="Figura 3", source="ignored").data.decode("utf-8")
    assert "<title>Figura 3</title>" in custom
    no_source = render(harness, keyness, Document(id="inputs", text=""), format="html").data.decode("utf-8")
    assert "<title>Palavras-chave: Ana Souza × restante</title>" in no_source


@pytest.mark.parametrize(("inputs", "config", "named"), [
    ({}, {}, "keyness"),
    ({"keyness": {"comparisons": "x"}}, {}, "keyness.comparisons"),
    ({"keyness": {"comparisons": []}}, {}, "empty"),
    (None, {"comparison": "Nobody"}, "'all'"),
])
def test_unusable_input_is_invalid_params(harness: PluginHarness, keyness: dict[str, Any], inputs: Any,
                                          config: dict, named: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(SOURCE, config, {"keyness": keyness} if inputs is None else inputs)
    assert named in caught.value.message


def test_all_comparisons_as_stacked_panels(harness: PluginHarness, keyness: dict[str, Any]) -> None:
    count = len(keyness["comparisons"])
    assert count == 5  # four speakers and TRICKY, each against the rest
    png = render(harness, keyness, comparison="all", width=600, height=300)
    assert png_size(png.data) == (600, 300 * count)  # height is per panel
    svg = render(harness, keyness, comparison="all", format="svg").data
    texts = [element.text or "" for element in ET.fromstring(svg).iter(SVG_TEXT)]
    assert "Palavras-chave de cada comparação — teams_pt.vtt" in texts
    for comparison in keyness["comparisons"]:
        assert f"Palavras-chave: {comparison['target']} × restante" in texts
    page = render(harness, keyness, comparison="all", format="html", language="en").data.decode("utf-8")
    assert page.count("<section>") == count and page.count("<svg") == count
    assert "<title>Keywords of each comparison — teams_pt.vtt</title>" in page
    assert "more frequent in Carlos Lima" in page and "more frequent in the rest" in page
    assert "Keywords: no correction, alpha = 0.5; each target against its reference." in page
    assert render(harness, keyness, comparison="all", format="svg").data == svg  # deterministic


@pytest.mark.parametrize("fmt", ["png", "svg", "html"])
def test_a_comparison_without_keywords_says_so(harness: PluginHarness, fmt: str) -> None:
    empty = {"comparisons": [{"target": "Ana", "reference": "rest", "positive": [], "negative": [], "tested": 27}],
             "language": "en", "correction": "holm"}
    figure = harness.run(SOURCE, {"format": fmt}, {"keyness": empty})
    if fmt == "png":
        assert png_size(figure.data) == (900, 600)
    else:
        text = figure.data.decode("utf-8")
        assert "No term is a keyword at this alpha and correction." in text
        assert "27 terms tested, Holm correction" in text and 'class="mark"' not in text


def test_runs_as_a_real_process(keyness: dict[str, Any]) -> None:
    answers = converse(ROOT / "plugins" / "keyness_chart", [
        {"document": {"text": ""}, "config": {"format": "svg"}, "inputs": {"keyness": keyness}}])
    assert answers[1]["result"]["media_type"] == "image/svg+xml"
