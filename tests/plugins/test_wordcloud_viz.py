"""wordcloud_viz: PNG and SVG clouds from real word_frequency output on the sample transcripts."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qualia.plugin_sdk import Document, RpcError
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.word_frequency import WordFrequency
from qualia.plugins.wordcloud_viz import WordcloudViz
from tests.plugins.figures import ROOT, SVG_TEXT, TRICKY, png_size, word_frequencies



@pytest.fixture(scope="module")
def frequencies() -> dict[str, Any]:
    return word_frequencies()


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(WordcloudViz)


def render(harness: PluginHarness, inputs: dict[str, Any], **config: Any) -> Any:
    return harness.run(Document(text=""), config, {"word_frequencies": inputs})


def test_png_has_the_configured_size(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    figure = render(harness, frequencies, width=640, height=320)
    assert figure.media_type == "image/png"
    assert png_size(figure.data) == (640, 320)
    assert png_size(render(harness, frequencies).data) == (800, 400)  # the defaults


def test_output_is_deterministic(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    assert render(harness, frequencies).data == render(harness, frequencies).data
    assert render(harness, frequencies, format="svg").data == render(harness, frequencies, format="svg").data
    assert render(harness, frequencies, seed=7).data != render(harness, frequencies).data


def test_svg_parses_and_keeps_accents(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    figure = render(harness, frequencies, format="svg", width=600, height=300)
    assert figure.media_type == "image/svg+xml"
    root = ET.fromstring(figure.data)
    assert root.get("width") == "600" and root.get("height") == "300"
    words = {element.text for element in root.iter(SVG_TEXT)}
    assert {"ação", "reunião"} <= words
    assert "ação" in figure.data.decode("utf-8")


def test_max_words_limits_the_cloud(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    root = ET.fromstring(render(harness, frequencies, format="svg", max_words=5).data)
    assert len(list(root.iter(SVG_TEXT))) == 5


def test_per_speaker_png_is_one_image_of_the_configured_size(harness: PluginHarness,
                                                            frequencies: dict[str, Any]) -> None:
    figure = render(harness, frequencies, per_speaker=True, width=900, height=600, colormap="Dark2")
    assert png_size(figure.data) == (900, 600)


def test_per_speaker_svg_captions_every_speaker_escaped(harness: PluginHarness,
                                                        frequencies: dict[str, Any]) -> None:
    figure = render(harness, frequencies, format="svg", per_speaker=True, width=1000, height=600)
    text = figure.data.decode("utf-8")
    assert TRICKY not in text and "&lt;b&gt;&amp;" in text
    root = ET.fromstring(figure.data)
    captions = {element.text for element in root.iter(SVG_TEXT) if "bold" in element.get("style", "")}
    assert captions == set(frequencies["speakers"])
    assert len(root.findall("{http://www.w3.org/2000/svg}svg")) == len(frequencies["speakers"])  # a cloud each


def test_a_speaker_without_words_gets_an_empty_captioned_cell(harness: PluginHarness) -> None:
    inputs = {"frequencies": [{"term": "ação", "count": 2}], "speakers": {
        "Ana": {"frequencies": [{"term": "ação", "count": 2}]}, "Bia": {"frequencies": []}}}
    root = ET.fromstring(render(harness, inputs, format="svg", per_speaker=True).data)
    assert {"Ana", "Bia", "(no words)", "ação"} <= {element.text for element in root.iter(SVG_TEXT)}
    assert png_size(render(harness, inputs, per_speaker=True).data) == (800, 400)


def test_transparent_background_gives_an_rgba_png(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    data = render(harness, frequencies, background_color="transparent").data
    assert data[25] == 6  # IHDR colour type 6: RGBA
    assert render(harness, frequencies, background_color="#1e1e2e").data[25] == 2  # RGB


@pytest.mark.parametrize("fmt", ["html", "jpeg"])
def test_a_format_not_in_the_manifest_is_invalid_params(harness: PluginHarness, frequencies: dict[str, Any],
                                                         fmt: str) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, format=fmt)
    assert caught.value.code == -32602 and "format" in caught.value.message


def test_missing_input_names_the_artefact(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        harness.run(Document(text="x"), {}, {})
    assert caught.value.code == -32602
    assert "word_frequencies" in caught.value.message


@pytest.mark.parametrize(("bad", "field"), [
    ({"speakers": {}}, "frequencies"),
    ({"frequencies": [{"term": "a", "count": "many"}]}, "word_frequencies.frequencies[0].count"),
    ({"frequencies": [{"term": "a", "count": -1}]}, "word_frequencies.frequencies[0].count"),
    ({"frequencies": [], "speakers": {"Ana": {"frequencies": "no"}}}, "word_frequencies.speakers[...].frequencies"),
])
def test_malformed_input_names_the_field(harness: PluginHarness, bad: dict[str, Any], field: str) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, bad)
    assert caught.value.code == -32602
    assert "word_frequencies" in caught.value.message and field in caught.value.message


def test_unknown_colormap_is_invalid_params_naming_it(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, colormap="viridiss")
    assert caught.value.code == -32602
    assert "colormap" in caught.value.message and "viridis" in caught.value.message  # suggests the close name
    assert caught.value.data == {"key": "colormap"}


def test_unknown_background_colour_is_invalid_params(harness: PluginHarness, frequencies: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, background_color="not-a-colour")
    assert caught.value.code == -32602 and "background_color" in caught.value.message


def test_per_speaker_without_speakers_is_invalid_params(harness: PluginHarness) -> None:
    plain = PluginHarness(WordFrequency).run(Document(text="A reunião sobre a ação de cadastro.", language="pt"))
    assert plain["speakers"] == {}
    assert png_size(render(harness, plain).data) == (800, 400)
    with pytest.raises(RpcError) as caught:
        render(harness, plain, per_speaker=True)
    assert caught.value.code == -32602 and "speakers" in caught.value.message


def test_nothing_to_draw_is_invalid_params(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, {"frequencies": []})
    assert caught.value.code == -32602 and "nothing to draw" in caught.value.message


def test_a_grid_too_small_for_its_speakers_is_invalid_params(harness: PluginHarness,
                                                             frequencies: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, frequencies, per_speaker=True, width=100, height=100, columns=5)
    assert caught.value.code == -32602 and "too small" in caught.value.message


def test_import_is_light() -> None:
    code = "import sys, plugins.wordcloud_viz; print(sorted({'matplotlib', 'wordcloud', 'PIL'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_as_a_real_process(frequencies: dict[str, Any]) -> None:
    answers = converse(ROOT / "plugins" / "wordcloud_viz", [
        {"document": {"text": ""}, "config": {"format": "svg", "max_words": 10},
         "inputs": {"word_frequencies": frequencies}}])
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == {"protocol": "qualia/1", "id": "wordcloud_viz", "version": "1.0.0"}
    assert answers[1]["result"]["media_type"] == "image/svg+xml"
