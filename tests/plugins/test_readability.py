"""readability: Flesch Reading Ease (Portuguese adaptation of Martins et al. 1996, and English) and the
Flesch-Kincaid grade, with syllables from pyphen's hyphenation dictionaries; figures worked by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.readability import Readability
from qualia.plugins.readability.syllables import counter

ROOT = Path(__file__).resolve().parents[2]
PT = "O gato comeu. A casa é bonita."
EN = "The cat sat on the mat. It was a beautiful day."


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(Readability)


def test_syllables_come_from_the_hyphenation_dictionaries() -> None:
    pt, en = counter("pt"), counter("en")
    words = ("o", "gato", "comeu", "bonita", "paralelepípedo", "ação", "e-mail")
    assert [pt(w) for w in words] == [1, 2, 2, 3, 7, 2, 2]
    assert [en(w) for w in ("the", "beautiful", "meeting", "qualitative", "it's")] == [1, 3, 2, 4, 1]


def test_portuguese_by_hand(harness: PluginHarness) -> None:
    """7 words in 2 sentences; syllables o(1) ga-to(2) co-meu(2) a(1) ca-sa(2) é(1) bo-ni-ta(3) = 12.

    ASL = 7/2 = 3.5; ASW = 12/7 = 1.714286
    FRE = 248.835 - 1.015 * 3.5 - 84.6 * 1.714286 = 248.835 - 3.5525 - 145.028571 = 100.253929 (very easy)
    """
    result = harness.run(Document(text=PT, language="pt"))
    assert (result["sentences"], result["words"], result["syllables"]) == (2, 7, 12)
    assert result["asl"] == 3.5 and result["asw"] == pytest.approx(1.714286, abs=1e-4)
    assert result["flesch_reading_ease"] == pytest.approx(100.25, abs=0.005)
    assert result["flesch_kincaid_grade"] is None and result["band"] == "very easy"
    assert "248.835" in result["formula"] and "Martins" in result["citation"]
    assert "hyph_pt_BR" in result["syllables_from"]


def test_english_by_hand(harness: PluginHarness) -> None:
    """11 words in 2 sentences; every word has 1 syllable but beau-ti-ful (3): 13.

    ASL = 5.5; ASW = 13/11 = 1.181818
    FRE = 206.835 - 1.015 * 5.5 - 84.6 * 1.181818 = 206.835 - 5.5825 - 99.981818 = 101.270682
    FK grade = 0.39 * 5.5 + 11.8 * 1.181818 - 15.59 = 2.145 + 13.945455 - 15.59 = 0.500455
    """
    result = harness.run(EN, {"language": "en"})
    assert (result["sentences"], result["words"], result["syllables"]) == (2, 11, 13)
    assert result["flesch_reading_ease"] == pytest.approx(101.27, abs=0.005)
    assert result["flesch_kincaid_grade"] == pytest.approx(0.5, abs=0.005)
    assert result["band"] == "very easy"


def test_harder_text_scores_lower_and_per_speaker(harness: PluginHarness) -> None:
    hard = ("A implementação da funcionalidade de autenticação multifatorial demonstrou-se "
            "excessivamente complicada para usuários inexperientes, comprometendo substancialmente a usabilidade.")
    document = Document(text="", language="pt", segments=[Segment(speaker="Ana", text=PT),
                                                          Segment(speaker="Caio", text=hard)])
    result = harness.run(document)
    ana, caio = result["speakers"]["Ana"], result["speakers"]["Caio"]
    assert ana["flesch_reading_ease"] == pytest.approx(100.25, abs=0.005)
    assert caio["flesch_reading_ease"] < 25 and caio["band"] == "very difficult"
    assert ana["words"] + caio["words"] == result["words"]
    assert harness.run(document, {"per_speaker": False})["speakers"] == {}


def test_language_is_detected_when_auto(harness: PluginHarness) -> None:
    assert harness.run("Eu não gostei do cadastro, mas o tutorial foi bom.")["language"] == "pt"
    assert harness.run("I did not like the signup, but the tutorial was good.")["language"] == "en"


def test_a_text_without_words_is_invalid_params(harness: PluginHarness) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run("123 ... ?!")
    assert "no" in caught.value.message and "words" in caught.value.message


def test_runs_as_a_real_process() -> None:
    answers = converse(ROOT / "plugins" / "readability", [{"document": {"text": EN}, "config": {"language": "en"}}])
    assert answers[1]["result"]["result"]["flesch_kincaid_grade"] == pytest.approx(0.5, abs=0.005)
