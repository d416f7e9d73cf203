"""collocations: window collocates of a word, a phrase or a lemma, and bigrams, with MI, t-score, log-likelihood
and log-Dice checked against figures worked by hand (the 2x2 table of measures.py: O11, R1, C1, N; E11 = R1 C1 / N)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.collocations import Collocations
from qualia.plugins.collocations.measures import log_likelihood

ROOT = Path(__file__).resolve().parents[2]
# positions: 0 leite, 1 café, 2 pão, 3 leite, 4 café, 5 pão, 6 sal, 7 sal, 8 leite, 9 pão
TEXT = "leite café pão leite café pão sal sal leite pão"
PLAIN = {"remove_stopwords": False, "min_frequency": 1, "language": "pt"}


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(Collocations)


def rows_by(rows: list[dict], key: str) -> dict[str, dict]:
    return {row[key]: row for row in rows}


def test_window_collocates_by_hand(harness: PluginHarness) -> None:
    """Node café (positions 1, 4), window 1 left, 1 right.

    Window positions {0, 2} and {3, 5}: R1 = 4; N = 10 tokens - 2 node positions = 8.
    pão: O11 = 2 (positions 2, 5), C1 = f(pão) = 3, E11 = 4*3/8 = 1.5
      MI = log2(2/1.5) = 0.415037; t = (2-1.5)/sqrt 2 = 0.353553
      O12 = 4-2 = 2, O21 = 3-2 = 1, O22 = 8-4-3+2 = 3; E12 = 4*5/8 = 2.5, E21 = 4*3/8 = 1.5, E22 = 2.5
      LL = 2(2 ln(2/1.5) + 2 ln(2/2.5) + 1 ln(1/1.5) + 3 ln(3/2.5)) = 2(0.575364 - 0.446287 - 0.405465 + 0.546965)
         = 0.541154
      log-Dice = 14 + log2(2*2/(f(café) 2 + f(pão) 3)) = 14 + log2(0.8) = 13.678072
    leite (positions 0, 3 in the window, f = 3) has the same table; sal is outside every window.
    """
    result = harness.run(TEXT, {**PLAIN, "word": "Café", "left": 1, "right": 1, "bigrams": False})
    assert (result["word"], result["tokens"], result["node_frequency"]) == ("café", 10, 2)
    rows = rows_by(result["collocates"], "collocate")
    assert set(rows) == {"pão", "leite"}
    pao = rows["pão"]
    assert (pao["frequency"], pao["collocate_frequency"]) == (2, 3)
    assert pao["expected"] == pytest.approx(1.5)
    assert pao["mi"] == pytest.approx(0.415037, abs=1e-4)
    assert pao["t_score"] == pytest.approx(0.353553, abs=1e-4)
    assert pao["log_likelihood"] == pytest.approx(0.541154, abs=1e-4)
    assert pao["log_dice"] == pytest.approx(13.678072, abs=1e-4)
    assert pao["p"] == pytest.approx(math.erfc(math.sqrt(0.541154 / 2)), rel=1e-3)
    assert rows["leite"]["log_likelihood"] == pytest.approx(0.541154, abs=1e-4)


def test_overlapping_windows_count_a_position_once(harness: PluginHarness) -> None:
    # café x café: both windows (1 left, 1 right) hold position 1; x co-occurs once, and R1 = 1
    result = harness.run("café x café", {**PLAIN, "word": "café", "left": 1, "right": 1, "bigrams": False})
    [x] = result["collocates"]
    assert (x["collocate"], x["frequency"], x["expected"]) == ("x", 1, 1.0)  # N = 1, R1 = 1, C1 = 1


def test_significant_bigrams_by_hand(harness: PluginHarness) -> None:
    """Nine adjacent pairs: (leite café) x2, (café pão) x2, (pão leite), (pão sal), (sal sal), (sal leite),
    (leite pão).

    leite café: O11 = 2, R1 = pairs starting with leite = 3, C1 = pairs ending with café = 2, N = 9
      E11 = 3*2/9 = 0.666667; MI = log2(3) = 1.584963; t = (2 - 0.666667)/sqrt 2 = 0.942809
      O12 = 1, O21 = 0, O22 = 9-3-2+2 = 6; E12 = 3*7/9 = 2.333333, E22 = 6*7/9 = 4.666667
      LL = 2(2 ln 3 + ln(1/2.333333) + 6 ln(6/4.666667)) = 2(2.197225 - 0.847298 + 1.507885) = 5.715624
      p = erfc(sqrt(5.715624/2)) = 0.01682 < 0.05: significant; log-Dice = 14 + log2(4/5) = 13.678072
    Pairs seen once have E11 >= 0.11 and LL < 3.84 here, so with min_frequency 1 only the two pairs seen twice
    are significant at 0.05. (sal sal): O11 = 1, R1 = C1 = 2, E11 = 4/9 = 0.444444, O12 = O21 = 1, O22 = 6,
      E12 = E21 = 14/9 = 1.555556, E22 = 49/9 = 5.444444;
      LL = 2(ln(9/4) + 2 ln(9/14) + 6 ln(54/49)) = 2(0.810930 - 0.883666 + 0.582984) = 1.020496, p = 0.31.
    """
    result = harness.run(TEXT, PLAIN)
    assert "collocates" not in result  # no node word: bigrams only
    rows = rows_by(result["bigrams"], "bigram")
    assert list(rows) == ["café pão", "leite café"]  # equal LL: alphabetical
    pair = rows["leite café"]
    assert pair["frequency"] == 2 and pair["expected"] == pytest.approx(0.6667, abs=1e-4)
    assert pair["mi"] == pytest.approx(1.584963, abs=1e-4)
    assert pair["t_score"] == pytest.approx(0.942809, abs=1e-4)
    assert pair["log_likelihood"] == pytest.approx(5.715624, abs=1e-4)
    assert pair["p"] == pytest.approx(0.01682, abs=1e-4)
    assert pair["log_dice"] == pytest.approx(13.678072, abs=1e-4)
    assert log_likelihood(1, 2, 2, 9) == pytest.approx(1.020496, abs=1e-5)  # (sal sal), as worked above
    assert harness.run(TEXT, {**PLAIN, "alpha": 0.01})["bigrams"] == []


def test_bigrams_never_cross_segments_and_stopwords_are_left_out(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[Segment(text="muito bom", speaker="A"),
                                                          Segment(text="bom dia", speaker="B")] * 3)
    rows = rows_by(harness.run(document, {**PLAIN, "min_frequency": 2})["bigrams"], "bigram")
    assert "bom bom" not in rows and "dia muito" not in rows
    kept = rows_by(harness.run(document, {"min_frequency": 2, "language": "pt", "alpha": 1.0})["bigrams"], "bigram")
    assert "muito bom" not in kept  # muito is a Portuguese stopword


def test_min_frequency_sorting_and_per_speaker(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[
        Segment(speaker="Ana", text="pagamento travou de novo, pagamento travou sempre"),
        Segment(speaker="Bia", text="o pagamento foi rápido, pagamento rápido")])
    result = harness.run(document, {"word": "pagamento", "min_frequency": 2, "sort_by": "frequency",
                                    "language": "pt", "bigrams": False})
    assert [row["collocate"] for row in result["collocates"]] == ["rápido", "travou"]
    assert result["speakers"]["Ana"]["node_frequency"] == 2
    assert [row["collocate"] for row in result["speakers"]["Ana"]["collocates"]] == ["travou"]
    assert [row["collocate"] for row in result["speakers"]["Bia"]["collocates"]] == ["rápido"]
    assert "speakers" not in harness.run(document, {"word": "pagamento", "per_speaker": False})


@pytest.mark.parametrize("sort_by", ["log_dice", "mi", "t_score", "log_likelihood", "frequency"])
def test_collocates_are_ranked_by_the_chosen_measure(harness: PluginHarness, sort_by: str) -> None:
    text = "a b c d e f " * 3 + "b x b y b z z z z"
    rows = harness.run(text, {**PLAIN, "word": "b", "sort_by": sort_by, "bigrams": False})["collocates"]
    values = [row[sort_by] for row in rows]
    assert values == sorted(values, reverse=True) and len(rows) >= 3


# positions: 0 muito, 1 bom, 2 café, 3 x, 4 muito, 5 bom, 6 pão, 7 café, 8 bom, 9 y
PHRASE_TEXT = "muito bom café x muito bom pão café bom y"


def test_a_phrase_node_counts_its_window_from_its_edges(harness: PluginHarness) -> None:
    """Node "muito bom" at 0-1 and 4-5 (f_node = 2), window 1 left, 2 right of the phrase's edges.

    Windows: {2, 3} after the first, {3} before and {6, 7} after the second: R1 = 4 positions;
    the node covers {0, 1, 4, 5}, so N = 10 - 4 = 6 (bom at 8 is outside the node: C1(bom) = 1).
    café: O11 = 2 (positions 2 and 7; counted from "muito" the window would hold 5, 6 instead), C1 = 2
      E11 = 4*2/6 = 1.333333; MI = log2 1.5 = 0.584963; t = (2 - 1.333333)/sqrt 2 = 0.471405
      O12 = 2, O21 = 0, O22 = 6-4-2+2 = 2; E12 = 4*4/6 = 2.666667, E22 = 2*4/6 = 1.333333
      LL = 2(2 ln 1.5 + 2 ln(2/2.666667) + 2 ln 1.5) = 2(0.810930 - 0.575364 + 0.810930) = 2.092992
      log-Dice = 14 + log2(2*2/(2+2)) = 14
    x: O11 = 1, C1 = 1; E11 = 0.666667, MI = 0.584963, t = 0.333333
      O12 = 3, O21 = 0, O22 = 2; E12 = 4*5/6 = 3.333333, E22 = 2*5/6 = 1.666667
      LL = 2(ln 1.5 + 3 ln 0.9 + 2 ln 1.2) = 2(0.405465 - 0.316082 + 0.364643) = 0.908052
      log-Dice = 14 + log2(2/3) = 13.415037
    """
    result = harness.run(PHRASE_TEXT, {**PLAIN, "word": "Muito  Bom", "left": 1, "right": 2, "bigrams": False})
    assert (result["word"], result["lemmas"], result["tokens"], result["node_frequency"]) == \
        ("muito bom", False, 10, 2)
    rows = rows_by(result["collocates"], "collocate")
    assert set(rows) == {"café", "x", "pão"}  # neither muito nor bom: inside the node, or outside every window
    cafe, x = rows["café"], rows["x"]
    assert (cafe["frequency"], cafe["collocate_frequency"]) == (2, 2)
    assert cafe["expected"] == pytest.approx(1.333333, abs=1e-4)
    assert cafe["mi"] == pytest.approx(0.584963, abs=1e-4)
    assert cafe["t_score"] == pytest.approx(0.471405, abs=1e-4)
    assert cafe["log_likelihood"] == pytest.approx(2.092992, abs=1e-4)
    assert cafe["log_dice"] == pytest.approx(14.0, abs=1e-4)
    assert (x["frequency"], x["collocate_frequency"], x["expected"]) == (1, 1, pytest.approx(0.6667, abs=1e-4))
    assert x["t_score"] == pytest.approx(0.333333, abs=1e-4)
    assert x["log_likelihood"] == pytest.approx(0.908052, abs=1e-4)
    assert x["log_dice"] == pytest.approx(13.415037, abs=1e-4)
    assert rows["pão"]["log_likelihood"] == x["log_likelihood"]  # the same table as x


def test_a_phrase_never_matches_across_segments(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[
        Segment(speaker="Ana", text="foi muito"), Segment(speaker="Bia", text="bom dia, muito bom mesmo")])
    result = harness.run(document, {**PLAIN, "word": "muito bom", "bigrams": False})
    assert result["node_frequency"] == 1
    rows = rows_by(result["collocates"], "collocate")
    assert set(rows) == {"bom", "dia", "mesmo"}  # Ana's "muito" ends her turn: no match with Bia's "bom"
    assert (rows["bom"]["frequency"], rows["bom"]["collocate_frequency"]) == (1, 1)  # the bom outside the node
    assert result["speakers"]["Ana"]["node_frequency"] == 0 and result["speakers"]["Bia"]["node_frequency"] == 1


# lemmas: 0 gostar, 1 café, 2 gostar, 3 pão, 4 gostar, 5 café (cafés), 6 pão, 7 barato
LEMMA_TEXT = "gostei café gostou pão gostamos cafés pão barato"


def test_lemmas_make_node_and_collocates_lemmas(harness: PluginHarness) -> None:
    """Node "gostou" as a lemma: gostar at 0, 2, 4 (f_node = 3), N = 8 - 3 = 5; window 0 left, 1 right:
    positions {1, 3, 5}, R1 = 3.

    café (café at 1, cafés at 5): O11 = 2, C1 = 2; E11 = 3*2/5 = 1.2; MI = log2(2/1.2) = 0.736966;
      t = 0.8/sqrt 2 = 0.565685; O12 = 1, O21 = 0, O22 = 2; E12 = 1.8, E22 = 1.2
      LL = 2(2 ln(2/1.2) + ln(1/1.8) + 2 ln(2/1.2)) = 2(1.021651 - 0.587787 + 1.021651) = 2.911031
      log-Dice = 14 + log2(4/5) = 13.678072
    pão (3, 6): O11 = 1, C1 = 2; E11 = 1.2; MI = log2(1/1.2) = -0.263034; t = -0.2
      O12 = 2, O21 = 1, O22 = 1; E12 = 1.8, E21 = 0.8, E22 = 1.2
      LL = 2(ln(1/1.2) + 2 ln(2/1.8) + ln(1/0.8) + ln(1/1.2)) = 2(-0.182322 + 0.210721 + 0.223144 - 0.182322)
         = 0.138442; log-Dice = 14 + log2(2/5) = 12.678072
    """
    config = {**PLAIN, "word": "gostou", "left": 0, "right": 1, "bigrams": False}
    result = harness.run(LEMMA_TEXT, {**config, "lemmas": True})
    assert (result["word"], result["lemmas"], result["node_frequency"]) == ("gostar", True, 3)
    rows = rows_by(result["collocates"], "collocate")
    assert set(rows) == {"café", "pão"}
    cafe, pao = rows["café"], rows["pão"]
    assert (cafe["frequency"], cafe["collocate_frequency"], cafe["expected"]) == (2, 2, pytest.approx(1.2))
    assert cafe["mi"] == pytest.approx(0.736966, abs=1e-4)
    assert cafe["t_score"] == pytest.approx(0.565685, abs=1e-4)
    assert cafe["log_likelihood"] == pytest.approx(2.911031, abs=1e-4)
    assert cafe["log_dice"] == pytest.approx(13.678072, abs=1e-4)
    assert (pao["frequency"], pao["collocate_frequency"]) == (1, 2)
    assert pao["mi"] == pytest.approx(-0.263034, abs=1e-4)
    assert pao["t_score"] == pytest.approx(-0.2, abs=1e-4)
    assert pao["log_likelihood"] == pytest.approx(0.138442, abs=1e-4)
    assert pao["log_dice"] == pytest.approx(12.678072, abs=1e-4)
    assert "simplemma" in result["method"]
    forms = harness.run(LEMMA_TEXT, config)  # word forms: "gostou" once, followed by pão
    assert (forms["word"], forms["lemmas"], forms["node_frequency"]) == ("gostou", False, 1)
    assert [row["collocate"] for row in forms["collocates"]] == ["pão"]


def test_lemma_bigrams_and_stopword_lemmas(harness: PluginHarness) -> None:
    # "gostei do"/"gostamos do": with lemmas the pair is (gostar, do); do is a stopword, so no bigram is kept
    document = Document(text="", language="pt", segments=[Segment(text="gostei café"), Segment(text="gostou café"),
                                                          Segment(text="foi bom"), Segment(text="é bom")])
    rows = rows_by(harness.run(document, {**PLAIN, "lemmas": True, "min_frequency": 2, "alpha": 1.0})["bigrams"],
                   "bigram")
    assert set(rows) == {"gostar café", "ser bom"}
    kept = harness.run(document, {"lemmas": True, "min_frequency": 2, "alpha": 1.0, "language": "pt"})["bigrams"]
    assert [row["bigram"] for row in kept] == ["gostar café"]  # ser is the lemma of the stopwords foi and é


def test_a_node_with_no_word_is_invalid_params(harness: PluginHarness) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(TEXT, {"word": "?!"})
    assert "word" in caught.value.message


def test_runs_as_a_real_process() -> None:
    answers = converse(ROOT / "plugins" / "collocations", [
        {"document": {"text": TEXT}, "config": {**PLAIN, "word": "café", "left": 1, "right": 1}}])
    result = answers[1]["result"]["result"]
    assert rows_by(result["collocates"], "collocate")["pão"]["log_likelihood"] == pytest.approx(0.541154, abs=1e-4)
    assert "log-Dice" in result["method"]
