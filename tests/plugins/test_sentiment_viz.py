"""sentiment_viz: timeline, speakers and distribution charts (PNG, SVG, self-contained HTML)."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qualia.plugin_sdk import Document, RpcError
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.sentiment_viz import SentimentViz
from tests.plugins.figures import ROOT, SVG_TEXT, TRICKY, assert_self_contained, png_size

CHARTS = ["timeline", "speakers", "distribution"]
POSITIVE, NEGATIVE = 0.05, -0.05

# (speaker, start in seconds, text, polarity): a short Portuguese meeting.
LINES = [
    ("Ana Souza", 2.35, "Bom dia, pessoal. Vamos começar a reunião?", 0.0),
    ("Conceição", 7.2, "Adorei a nova ação de cadastro, ficou ótima!", 0.72),
    (TRICKY, 13.9, 'A confirmação do e-mail é péssima & "confusa" <sempre>.', -0.61),
    ("Ana Souza", 20.5, "Entendi. E o tutorial?", 0.02),
    ("Conceição", 28.1, "O tutorial é bom, explica tudo.", 0.44),
    (TRICKY, 33.6, "Demorou demais, desisti na primeira vez.", -0.35),
    ("Ana Souza", 41.0, "Obrigada, isso ajuda muito.", 0.51),
]


def label(polarity: float) -> str:
    return "positive" if polarity >= POSITIVE else "negative" if polarity <= NEGATIVE else "neutral"


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


@pytest.fixture(scope="module")
def sentiment() -> dict[str, Any]:
    """What sentiment_analyzer returns for LINES (window 3), built by hand."""
    segments = [
        {"index": i, "speaker": speaker, "start": start, "end": start + 4.0, "text": text, "polarity": polarity,
         "subjectivity": None, "label": label(polarity)}
        for i, (speaker, start, text, polarity) in enumerate(LINES)
    ]
    polarities = [s["polarity"] for s in segments]
    speakers: dict[str, Any] = {}
    for name in dict.fromkeys(s["speaker"] for s in segments):
        own = [s["polarity"] for s in segments if s["speaker"] == name]
        speakers[name] = {"polarity": mean(own), "subjectivity": None, "label": label(mean(own)),
                          "segments": len(own)}
    labels = [s["label"] for s in segments]
    return {
        "method": {"name": "hand-made", "language": "pt", "citation": "test fixture"},
        "language": "pt",
        "thresholds": {"positive": POSITIVE, "negative": NEGATIVE},
        "document": {"polarity": mean(polarities), "subjectivity": None, "label": label(mean(polarities))},
        "segments": segments,
        "speakers": speakers,
        "timeline": [{"index": s["index"], "start": s["start"], "polarity": s["polarity"],
                      "rolling": mean(polarities[max(0, k - 2):k + 1])} for k, s in enumerate(segments)],
        "distribution": {name: labels.count(name) for name in ("positive", "negative", "neutral")},
    }


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(SentimentViz)


def render(harness: PluginHarness, inputs: dict[str, Any], **config: Any) -> Any:
    return harness.run(Document(text=""), config, {"sentiment": inputs})


@pytest.mark.parametrize("chart", CHARTS)
def test_png_has_the_configured_size(harness: PluginHarness, sentiment: dict[str, Any], chart: str) -> None:
    figure = render(harness, sentiment, chart=chart, width=640, height=360)
    assert figure.media_type == "image/png"
    assert png_size(figure.data) == (640, 360)


@pytest.mark.parametrize("chart", CHARTS)
def test_svg_parses_and_is_deterministic(harness: PluginHarness, sentiment: dict[str, Any], chart: str) -> None:
    figure = render(harness, sentiment, chart=chart, format="svg")
    assert figure.media_type == "image/svg+xml"
    ET.fromstring(figure.data)
    assert render(harness, sentiment, chart=chart, format="svg").data == figure.data


@pytest.mark.parametrize("chart", CHARTS)
def test_html_is_self_contained(harness: PluginHarness, sentiment: dict[str, Any], chart: str) -> None:
    figure = render(harness, sentiment, chart=chart, format="html")
    assert figure.media_type.startswith("text/html")
    page = figure.data.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    ET.fromstring(svg.group(0))  # the inline chart is well-formed markup


def test_timeline_html_has_a_point_per_segment_with_escaped_tooltips(harness: PluginHarness,
                                                                     sentiment: dict[str, Any]) -> None:
    page = render(harness, sentiment, format="html").data.decode("utf-8")
    assert page.count('<circle class="mark"') == len(LINES)
    assert page.count("<polyline") == 2  # polarity and rolling mean
    assert "reunião" in page and "ação" in page  # segment texts in the tooltips, accents intact
    assert TRICKY not in page and "&lt;sempre&gt;" in page and "&quot;confusa&quot;" in page
    assert "#3 at 0:14 · &lt;b&gt;&amp;\npolarity -0.610 (negative)" in page
    assert "positive ≥ 0.05" in page and "negative ≤ -0.05" in page  # the threshold bands are labelled


def test_timeline_x_axis_by_index_or_time(harness: PluginHarness, sentiment: dict[str, Any]) -> None:
    by_time = render(harness, sentiment, format="html").data.decode("utf-8")  # auto: every point has a start
    by_index = render(harness, sentiment, format="html", x_axis="index").data.decode("utf-8")
    assert ">time</text>" in by_time and ">0:30</text>" in by_time
    assert ">segment</text>" in by_index
    no_starts = copy.deepcopy(sentiment)
    for point in no_starts["timeline"]:
        point["start"] = None
    assert ">segment</text>" in render(harness, no_starts, format="html").data.decode("utf-8")
    with pytest.raises(RpcError) as caught:
        render(harness, no_starts, format="html", x_axis="time")
    assert caught.value.code == -32602 and "sentiment.timeline[0].start" in caught.value.message


@pytest.mark.parametrize("fmt", ["svg", "html"])
def test_speakers_chart_escapes_names_and_keeps_accents(harness: PluginHarness, sentiment: dict[str, Any],
                                                        fmt: str) -> None:
    data = render(harness, sentiment, chart="speakers", format=fmt).data
    text = data.decode("utf-8")
    assert TRICKY not in text and "&lt;b&gt;&amp;" in text
    assert "Conceição" in text
    if fmt == "svg":
        names = {element.text for element in ET.fromstring(data).iter(SVG_TEXT)}
        assert {"Ana Souza", "Conceição", TRICKY} <= names
    else:
        assert text.count('<rect class="mark"') == 3
        assert "mean polarity +0.580 (positive)\n2 segments" in text


def test_distribution_html_counts_each_label(harness: PluginHarness, sentiment: dict[str, Any]) -> None:
    page = render(harness, sentiment, chart="distribution", format="html").data.decode("utf-8")
    counts = sentiment["distribution"]
    assert f"positive: {counts['positive']} segments" in page
    assert f"negative: {counts['negative']} segments" in page
    assert f"neutral: {counts['neutral']} segments" in page


@pytest.mark.parametrize("fmt", ["jpeg", "pdf"])
def test_a_format_not_in_the_manifest_is_invalid_params(harness: PluginHarness, sentiment: dict[str, Any],
                                                         fmt: str) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, sentiment, format=fmt)
    assert caught.value.code == -32602 and "format" in caught.value.message


def test_an_unknown_chart_is_invalid_params(harness: PluginHarness, sentiment: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as caught:
        render(harness, sentiment, chart="pie")
    assert caught.value.code == -32602 and "chart" in caught.value.message


def test_missing_input_names_the_artefact(harness: PluginHarness) -> None:
    with pytest.raises(RpcError) as caught:
        harness.run(Document(text="x"), {"format": "html"}, {"word_frequencies": {"frequencies": []}})
    assert caught.value.code == -32602
    assert "sentiment" in caught.value.message


@pytest.mark.parametrize(("chart", "breakage", "field"), [
    ("timeline", lambda s: s["timeline"][2].update(polarity="bad"), "sentiment.timeline[2].polarity"),
    ("timeline", lambda s: s["segments"][1].update(label="great"), "sentiment.segments[1].label"),
    ("timeline", lambda s: s.pop("timeline"), "sentiment.timeline"),
    ("timeline", lambda s: s.pop("thresholds"), "sentiment.thresholds"),
    ("speakers", lambda s: s.pop("speakers"), "sentiment.speakers"),
    ("distribution", lambda s: s["distribution"].update(neutral=1.5), "sentiment.distribution.neutral"),
    ("distribution", lambda s: s.pop("distribution"), "sentiment.distribution"),
])
def test_malformed_or_missing_parts_name_the_field(harness: PluginHarness, sentiment: dict[str, Any], chart: str,
                                                   breakage: Any, field: str) -> None:
    broken = copy.deepcopy(sentiment)
    breakage(broken)
    with pytest.raises(RpcError) as caught:
        render(harness, broken, chart=chart, format="html")
    assert caught.value.code == -32602
    assert field in caught.value.message


def test_a_chart_reads_only_what_it_needs(harness: PluginHarness) -> None:
    only = {"distribution": {"positive": 2, "negative": 1, "neutral": 0}}
    assert png_size(render(harness, only, chart="distribution").data) == (900, 450)


@pytest.mark.parametrize(("chart", "empty"), [("timeline", "timeline"), ("speakers", "speakers")])
def test_nothing_to_draw_is_invalid_params(harness: PluginHarness, sentiment: dict[str, Any], chart: str,
                                           empty: str) -> None:
    hollow = copy.deepcopy(sentiment)
    hollow[empty] = [] if empty == "timeline" else {}
    with pytest.raises(RpcError) as caught:
        render(harness, hollow, chart=chart, format="svg")
    assert caught.value.code == -32602 and "nothing to draw" in caught.value.message


def test_import_and_html_do_not_load_matplotlib(sentiment: dict[str, Any]) -> None:
    code = (
        "import json, sys\n"
        "from qualia.plugin_sdk import Document\n"
        "from qualia.plugin_sdk.testing import PluginHarness\n"
        "from qualia.plugins.sentiment_viz import SentimentViz\n"
        "loaded = 'matplotlib' in sys.modules\n"
        "inputs = {'sentiment': json.loads(sys.stdin.read())}\n"
        "for chart in ('timeline', 'speakers', 'distribution'):\n"
        "    PluginHarness(SentimentViz).run(Document(text=''), {'format': 'html', 'chart': chart}, inputs)\n"
        "print(loaded, 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=json.dumps(sentiment),
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_runs_as_a_real_process(sentiment: dict[str, Any]) -> None:
    answers = converse(ROOT / "plugins" / "sentiment_viz", [
        {"document": {"text": ""}, "config": {"format": "png", "chart": "speakers"}, "inputs": {"sentiment": sentiment}}])
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"]["id"] == "sentiment_viz"
    assert answers[1]["result"]["media_type"] == "image/png"
