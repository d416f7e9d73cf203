"""word_frequency with `lemmas = true`: forms of one lemma count together (simplemma, offline)."""
from __future__ import annotations

from pathlib import Path

from qualia.plugin_sdk import Document, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.word_frequency import WordFrequency

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Eu gostei do tutorial. Ele gostou da reunião. Nós gostamos das reuniões."


def terms(result: dict) -> dict[str, int]:
    return {row["term"]: row["count"] for row in result["frequencies"]}


def test_forms_count_together_only_when_asked() -> None:
    harness = PluginHarness(WordFrequency)
    forms = terms(harness.run(TEXT, {"language": "pt"}))
    assert forms["gostei"] == 1 and forms["reuniões"] == 1 and "gostar" not in forms
    lemmas = terms(harness.run(TEXT, {"language": "pt", "lemmas": True}))
    assert lemmas == {"gostar": 3, "reunião": 2, "tutorial": 1}


def test_lemmas_per_speaker_and_in_ngrams() -> None:
    harness = PluginHarness(WordFrequency)
    document = Document(text="", language="pt", segments=[Segment(speaker="Ana", text="gostei gostou reuniões"),
                                                          Segment(speaker="Bia", text="gostamos reunião")])
    result = harness.run(document, {"lemmas": True})
    assert terms(result["speakers"]["Ana"]) == {"gostar": 2, "reunião": 1}
    assert result["total_tokens"] == 5 and result["counted_tokens"] == 5
    bigrams = terms(harness.run(document, {"lemmas": True, "ngram": 2}))
    assert bigrams == {"gostar gostar": 1, "gostar reunião": 2}


def test_lemmas_through_a_real_process() -> None:
    answers = converse(ROOT / "plugins" / "word_frequency", [
        {"document": {"text": TEXT, "language": "pt"}, "config": {"lemmas": True}}])
    assert terms(answers[1]["result"]["result"])["gostar"] == 3
