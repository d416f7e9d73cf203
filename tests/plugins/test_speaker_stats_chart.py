"""speaker_stats_chart: one speaker_stats measure per speaker (PNG, SVG, self-contained HTML) from real
output of the cleaner and speaker_stats; pt/en labels, a title naming the source, Okabe-Ito colours."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from qualia.plugin_sdk import Document, InvalidParams
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins._charts.report import SERIES
from qualia.plugins.speaker_stats import SpeakerStats
from qualia.plugins.speaker_stats_chart import SpeakerStatsChart
from qualia.plugins.teams_cleaner import TeamsCleaner
from tests.plugins.figures import ROOT, SVG_TEXT, TRANSCRIPTS, assert_self_contained, png_size, vtt_document

METRICS = ["share", "talk_time", "words", "turns", "words_per_turn", "questions", "interruptions"]


@pytest.fixture(scope="module")
def cleaned() -> Document:
    raw = Document(id="teams_en", text=(TRANSCRIPTS / "teams_en.vtt").read_text(encoding="utf-8"),
                   metadata={"filename": "teams_en.vtt"})
    return PluginHarness(TeamsCleaner).run(raw)


@pytest.fixture(scope="module")
def stats(cleaned: Document) -> dict[str, Any]:
    return PluginHarness(SpeakerStats).run(cleaned)


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(SpeakerStatsChart)


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_draws_png_svg_and_html(harness: PluginHarness, cleaned: Document, stats: dict[str, Any],
                                             metric: str) -> None:
    png = harness.run(cleaned, {"metric": metric, "width": 640, "height": 360}, {"speaker_stats": stats})
    assert png_size(png.data) == (640, 360)
    svg = harness.run(cleaned, {"metric": metric, "format": "svg"}, {"speaker_stats": stats})
    ET.fromstring(svg.data)
    assert harness.run(cleaned, {"metric": metric, "format": "svg"}, {"speaker_stats": stats}).data == svg.data
    page = harness.run(cleaned, {"metric": metric, "format": "html"}, {"speaker_stats": stats}).data.decode("utf-8")
    assert_self_contained(page)
    assert "— teams_en.vtt</title>" in page


def test_share_ranks_speakers_by_talk_time(harness: PluginHarness, cleaned: Document, stats: dict[str, Any]) -> None:
    page = harness.run(cleaned, {"format": "html"}, {"speaker_stats": stats}).data.decode("utf-8")
    assert "Share of talk time by speaker — teams_en.vtt" in page and "% of talk time" in page
    ranked = sorted(stats["speakers"], key=lambda name: -stats["speakers"][name]["share_of_talk_time"])
    positions = [page.index(f">{name}<") for name in ranked]
    assert positions == sorted(positions)  # top down
    top = stats["speakers"][ranked[0]]
    assert f"{round(top['share_of_talk_time'] * 100, 2):g}" in page
    assert f"{stats['meeting']['speakers']} speakers, {stats['meeting']['turns']} turns" in page
    fills = set(re.findall(r'class="mark"[^>]*fill="(#\w+)"', page))
    assert fills == {SERIES[0]}


def test_portuguese_labels_and_interruptions_side_by_side(harness: PluginHarness) -> None:
    stats = PluginHarness(SpeakerStats).run(Document(text="", language="pt", segments=[
        {"speaker": "Ana", "start": 0.0, "end": 10.0, "text": "Bom dia a todos"},
        {"speaker": "Caio", "start": 8.0, "end": 12.0, "text": "Posso falar?"}]))
    page = harness.run(Document(id="reuniao", text=""), {"format": "svg", "metric": "interruptions"},
                       {"speaker_stats": stats}).data
    texts = " ".join(e.text or "" for e in ET.fromstring(page).iter(SVG_TEXT))
    assert "Interrupções por participante — reuniao" in texts and "feitas" in texts and "sofridas" in texts
    html = harness.run(Document(id="reuniao", text=""), {"format": "html", "metric": "interruptions"},
                       {"speaker_stats": stats}).data.decode("utf-8")
    assert set(re.findall(r'class="mark"[^>]*fill="(#\w+)"', html)) == {SERIES[0], SERIES[1]}


def test_without_timestamps_share_is_of_words(harness: PluginHarness) -> None:
    stats = PluginHarness(SpeakerStats).run(vtt_document("teams_pt.vtt"))
    assert stats["timed"] is False
    page = harness.run(Document(text=""), {"format": "html"}, {"speaker_stats": stats}).data.decode("utf-8")
    assert "Participação nas palavras por participante" in page and "% das palavras" in page
    with pytest.raises(InvalidParams) as caught:
        harness.run(Document(text=""), {"metric": "talk_time"}, {"speaker_stats": stats})
    assert "timestamps" in caught.value.message


def test_missing_or_malformed_input_is_invalid_params(harness: PluginHarness) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(Document(text=""), {}, {})
    assert "speaker_stats" in caught.value.message
    with pytest.raises(InvalidParams) as caught:
        harness.run(Document(text=""), {}, {"speaker_stats": {"speakers": {}, "meeting": {"speakers": 0, "turns": 0,
                                                                                            "words": 0}}})
    assert "empty" in caught.value.message


def test_runs_as_a_real_process(stats: dict[str, Any]) -> None:
    answers = converse(ROOT / "plugins" / "speaker_stats_chart", [
        {"document": {"text": ""}, "config": {"metric": "turns"}, "inputs": {"speaker_stats": stats}}])
    assert answers[1]["result"]["media_type"] == "image/png"
