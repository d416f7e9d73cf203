"""concordance: keyword in context for a word, a phrase, a regular expression or a lemma; per speaker;
sorted by position, left or right context."""
from __future__ import annotations

from pathlib import Path

import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.concordance import Concordance

ROOT = Path(__file__).resolve().parents[2]
MEETING = Document(id="m", text="", language="pt", segments=[
    Segment(speaker="Ana", start=1.0, end=4.0, text="Eu gostei muito do tutorial, mas o Pagamento travou."),
    Segment(speaker="Bia", start=5.0, end=8.0, text="Ele gostou? Nós gostamos do pagamento novo!"),
    Segment(speaker="Ana", start=9.0, end=11.0, text="O pagamento, de novo, o pagamento.")])


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(Concordance)


def kwic(result: dict) -> list[tuple[str, str, str]]:
    return [(line["left"], line["node"], line["right"]) for line in result["lines"]]


def test_a_word_with_its_context_in_the_original_text(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"word": "pagamento", "left": 3, "right": 2})
    assert result["hits"] == 4 and result["words"] == 9 + 7 + 6
    assert result["per_1000_words"] == pytest.approx(181.818)  # 4 * 1000 / 22
    assert kwic(result) == [
        ("tutorial, mas o", "Pagamento", "travou"),  # case and punctuation kept, matched case-insensitively
        ("Nós gostamos do", "pagamento", "novo"),
        ("O", "pagamento", ", de novo"),  # context stops at the segment's start
        ("de novo, o", "pagamento", ""),  # and at its end
    ]
    first = result["lines"][0]
    assert (first["segment"], first["speaker"], first["start"], first["offset"]) == (0, "Ana", 1.0, 35)
    assert MEETING.segments[0].text[35:44] == "Pagamento"


def test_per_speaker_hits_and_rates(harness: PluginHarness) -> None:
    speakers = harness.run(MEETING, {"word": "pagamento"})["speakers"]
    # Ana: 9 + 6 = 15 words, 3 hits (200 per 1,000); Bia: 7 words, 1 hit (142.857 per 1,000)
    assert speakers == {"Ana": {"hits": 3, "words": 15, "per_1000_words": 200.0},
                        "Bia": {"hits": 1, "words": 7, "per_1000_words": 142.857}}
    assert harness.run(MEETING, {"word": "pagamento", "per_speaker": False})["speakers"] == {}


def test_a_phrase_matches_words_in_a_row(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"word": "o  pagamento", "left": 1, "right": 1})
    assert [line["node"] for line in result["lines"]] == ["o Pagamento", "O pagamento", "o pagamento"]
    assert harness.run(MEETING, {"word": "do pagamento"})["hits"] == 1


def test_case_sensitive(harness: PluginHarness) -> None:
    assert harness.run(MEETING, {"word": "Pagamento", "case_sensitive": True})["hits"] == 1
    assert harness.run(MEETING, {"word": "pag.*?o\\b", "match": "regex", "case_sensitive": True})["hits"] == 3


def test_a_regular_expression(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"word": r"gost\w+", "match": "regex", "left": 1, "right": 1})
    assert kwic(result) == [("Eu", "gostei", "muito"), ("Ele", "gostou", "? Nós"), ("Nós", "gostamos", "do")]
    assert result["query"]["match"] == "regex"


def test_a_lemma_finds_every_form(harness: PluginHarness) -> None:
    plain = harness.run(MEETING, {"word": "gostar"})
    assert plain["hits"] == 0
    result = harness.run(MEETING, {"word": "gostar", "lemmas": True})
    assert [line["node"] for line in result["lines"]] == ["gostei", "gostou", "gostamos"]
    assert result["query"]["lemma_keys"] == ["gostar"]
    assert harness.run(MEETING, {"word": "gostei", "lemmas": True})["hits"] == 3  # the query is lemmatized too


def test_sorting_by_left_and_right_context(harness: PluginHarness) -> None:
    # Left contexts read outwards: [o, mas, tutorial], [do, gostamos, nós], [o], [o, novo, de]
    # -> do... < o (shortest first) < o mas... < o novo...
    left = harness.run(MEETING, {"word": "pagamento", "sort": "left"})
    by_left = [(line["segment"], line["offset"]) for line in left["lines"]]
    assert by_left == [(1, 28), (2, 2), (0, 35), (2, 24)]
    # R1: travou, novo, de, "" -> "" < de < novo < travou
    right = harness.run(MEETING, {"word": "pagamento", "sort": "right", "right": 2})
    assert [line["right"] for line in right["lines"]] == ["", ", de novo", "novo", "travou"]
    node = harness.run(MEETING, {"word": r"\w+mos|\w+ou", "match": "regex", "sort": "node"})
    assert [line["node"] for line in node["lines"]] == ["gostamos", "gostou", "travou"]


def test_max_lines_keeps_the_count(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"word": "pagamento", "max_lines": 2})
    assert result["hits"] == 4 and len(result["lines"]) == 2 and result["truncated"] is True


def test_a_document_without_segments(harness: PluginHarness) -> None:
    result = harness.run("The export fails. Export again, the export works.", {"word": "export", "right": 1})
    assert result["hits"] == 3 and result["speakers"] == {}
    assert [line["speaker"] for line in result["lines"]] == [None, None, None]
    assert kwic(result)[1] == ("The export fails.", "Export", "again")


@pytest.mark.parametrize(("config", "named"), [
    ({"word": ""}, "word"),
    ({"word": "  "}, "word"),
    ({"word": "?!"}, "no word"),
    ({"word": "(unclosed", "match": "regex"}, "regular expression"),
    ({"word": "x", "match": "regex", "lemmas": True}, "lemmas"),
    ({"word": "x", "sort": "speaker"}, "sort"),
])
def test_bad_queries_are_invalid_params(harness: PluginHarness, config: dict, named: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(MEETING, config)
    assert named in caught.value.message


def test_runs_as_a_real_process() -> None:
    import msgspec

    answers = converse(ROOT / "plugins" / "concordance", [
        {"document": msgspec.to_builtins(MEETING), "config": {"word": "gostar", "lemmas": True, "sort": "right"}},
        {"document": {"text": "x"}, "config": {"word": "(", "match": "regex"}}])
    result = answers[1]["result"]["result"]
    assert [line["node"] for line in result["lines"]] == ["gostamos", "gostei", "gostou"]  # R1: do, muito, Nós
    assert answers[2]["error"]["code"] == -32602
