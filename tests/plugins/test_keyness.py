"""keyness: log-likelihood (Rayson & Garside 2000), Log Ratio, %DIFF and corrections, checked against
figures worked by hand on small tables.

Notation: a, b = the term's frequency in target and reference; c, d = tokens in target and reference.
E1 = c(a+b)/(c+d), E2 = d(a+b)/(c+d), LL = 2(a ln(a/E1) + b ln(b/E2)).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.keyness import Keyness
from qualia.plugins.keyness.measures import adjust, log_likelihood, log_ratio, p_value, percent_diff

ROOT = Path(__file__).resolve().parents[2]

# Ana: "café" 10 times in 1,000 words; Bia: "café" 5 times in 2,000 words; every other word is "água".
ANA = " ".join(["café"] * 10 + ["água"] * 990)
BIA = " ".join(["café"] * 5 + ["água"] * 1995)
MEETING = Document(id="meeting", text="", language="pt",
                   segments=[Segment(speaker="Ana", text=ANA), Segment(speaker="Bia", text=BIA)])

# Worked by hand for café (a=10, b=5, c=1000, d=2000):
#   E1 = 1000*15/3000 = 5, E2 = 2000*15/3000 = 10
#   LL = 2(10 ln(10/5) + 5 ln(5/10)) = 2(10 - 5) ln 2 = 10 ln 2 = 6.931472
#   p = P(chi2(1) >= 6.9315) = erfc(sqrt(6.9315/2)) = 0.008469 (between the table's 0.01 at 6.63 and 0.005 at 7.88)
#   Log Ratio = log2((10/1000)/(5/2000)) = log2(4) = 2
#   %DIFF = (0.01 - 0.0025) / 0.0025 * 100 = 300
CAFE_LL, CAFE_P = 10 * math.log(2), 0.008469
# água (a=990, b=1995): E1 = 1000*2985/3000 = 995, E2 = 1990
#   LL = 2(990 ln(990/995) + 1995 ln(1995/1990)) = 2(-4.98740 + 5.00628) = 0.03772; p = 0.8460
AGUA_LL, AGUA_P = 0.03772, 0.8460


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(Keyness)


def test_measures_match_the_hand_computation() -> None:
    assert log_likelihood(10, 5, 1000, 2000) == pytest.approx(CAFE_LL, abs=1e-9)
    assert p_value(CAFE_LL) == pytest.approx(CAFE_P, abs=1e-6)
    assert log_ratio(10, 5, 1000, 2000) == pytest.approx(2.0)
    assert percent_diff(10, 5, 1000, 2000) == pytest.approx(300.0)
    assert log_likelihood(990, 1995, 1000, 2000) == pytest.approx(AGUA_LL, abs=1e-5)
    assert p_value(AGUA_LL) == pytest.approx(AGUA_P, abs=1e-4)


def test_zero_frequencies() -> None:
    # b = 0 (a=990, c=1000, d=3000): E1 = 1000*990/4000 = 247.5; LL = 2*990 ln(990/247.5) = 1980 ln 4 = 2744.86
    assert log_likelihood(990, 0, 1000, 3000) == pytest.approx(1980 * math.log(4))
    # Log Ratio takes a zero as 0.5 (Hardie 2014): log2((990/1000)/(0.5/3000)) = log2(5940) = 12.5362
    assert log_ratio(990, 0, 1000, 3000) == pytest.approx(math.log2(5940))
    assert percent_diff(990, 0, 1000, 3000) is None  # infinite: reported as undefined
    assert log_likelihood(0, 7, 100, 100) == pytest.approx(2 * 7 * math.log(7 / 3.5))


def test_corrections_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    # Bonferroni: m p = 0.04, 0.16, 0.12, 0.8
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.8])
    # Holm, sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.2
    assert adjust(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    # Benjamini-Hochberg, sorted p * m / rank = 0.04, 0.06, 0.0533, 0.2; from the largest down, the running
    # minimum: 0.2, 0.0533, 0.0533, 0.04 -> in input order 0.04, 0.0533, 0.0533, 0.2
    assert adjust(p, "benjamini_hochberg") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert adjust(p, "none") == p
    assert adjust([], "holm") == []


def test_each_speaker_against_the_rest_of_the_meeting(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"min_frequency": 1, "correction": "bonferroni"})
    ana, bia = result["comparisons"]
    assert (ana["target"], ana["reference"]) == ("Ana", "rest")
    assert (ana["target_tokens"], ana["reference_tokens"]) == (1000, 2000)
    assert ana["tested"] == 2
    [cafe] = ana["positive"]
    assert cafe["term"] == "café" and (cafe["target_count"], cafe["reference_count"]) == (10, 5)
    assert cafe["log_likelihood"] == pytest.approx(CAFE_LL, abs=1e-4)
    assert cafe["p"] == pytest.approx(CAFE_P, rel=1e-3)
    assert cafe["p_adjusted"] == pytest.approx(2 * CAFE_P, rel=1e-3)  # Bonferroni over 2 tested terms
    assert cafe["log_ratio"] == pytest.approx(2.0) and cafe["percent_diff"] == pytest.approx(300.0)
    assert (cafe["target_per_million"], cafe["reference_per_million"]) == (10000.0, 2500.0)
    assert ana["negative"] == []  # água is not significant (p = 0.846)
    # Bia's side of the same table: café is a negative keyword, with the same LL
    assert bia["positive"] == [] and [row["term"] for row in bia["negative"]] == ["café"]
    assert bia["negative"][0]["log_likelihood"] == pytest.approx(CAFE_LL, abs=1e-4)
    assert bia["negative"][0]["log_ratio"] == pytest.approx(-2.0)


def test_alpha_and_correction_decide_what_is_a_keyword(harness: PluginHarness) -> None:
    # café's Bonferroni p is 0.0169: a keyword at alpha 0.05, not at 0.01; uncorrected 0.0085 is one at 0.01
    assert harness.run(MEETING, {"min_frequency": 1, "correction": "bonferroni", "alpha": 0.01})[
        "comparisons"][0]["positive"] == []
    assert len(harness.run(MEETING, {"min_frequency": 1, "correction": "none", "alpha": 0.01})[
        "comparisons"][0]["positive"]) == 1
    # min_log_ratio 2.5 asks for more than the 2.0 café has
    assert harness.run(MEETING, {"min_frequency": 1, "min_log_ratio": 2.5})["comparisons"][0]["positive"] == []


def test_target_speakers_against_the_other_speakers(harness: PluginHarness) -> None:
    document = Document(text="", segments=[*MEETING.segments, Segment(speaker="Caio", text="chá chá")])
    result = harness.run(document, {"target_speakers": ["Ana", "Caio"], "min_frequency": 1, "correction": "none"})
    [comparison] = result["comparisons"]
    assert comparison["target"] == "Ana + Caio" and comparison["reference"] == "rest"
    assert (comparison["target_tokens"], comparison["reference_tokens"]) == (1002, 2000)


def test_reference_text_both_directions(harness: PluginHarness) -> None:
    # gato: a=3, b=1, c=d=4: E1 = E2 = 2; LL = 2(3 ln 1.5 + ln 0.5) = 1.046496; p = 0.3063
    # Log Ratio = log2(3) = 1.585; %DIFF = (0.75 - 0.25)/0.25*100 = 200. cão is the mirror image.
    result = harness.run(Document(id="a", text="gato gato gato cão"),
                         {"reference_text": "cão cão cão gato", "min_frequency": 1, "correction": "none",
                          "alpha": 0.5})
    [comparison] = result["comparisons"]
    assert comparison["reference"] == "reference text" and comparison["target"] == "a"
    [gato], [cao] = comparison["positive"], comparison["negative"]
    assert gato["term"] == "gato" and gato["log_likelihood"] == pytest.approx(1.046496, abs=1e-4)
    assert gato["p"] == pytest.approx(0.3063, abs=1e-4)
    assert gato["log_ratio"] == pytest.approx(math.log2(3), abs=1e-4) and gato["percent_diff"] == pytest.approx(200.0)
    assert cao["term"] == "cão" and cao["log_ratio"] == pytest.approx(-math.log2(3), abs=1e-4)
    assert cao["percent_diff"] == pytest.approx(-66.67, abs=0.01)


def test_reference_frequencies_of_a_corpus(harness: PluginHarness) -> None:
    # café: a=10, b=5, c=1000, d=3000: E1 = 3.75, E2 = 11.25;
    # LL = 2(10 ln(10/3.75) + 5 ln(5/11.25)) = 2(9.80829 - 4.05465) = 11.50728
    config = {"reference_frequencies": {"total": 3000, "frequencies": {"Café": 5}}, "min_frequency": 1,
              "reference_label": "corpus 2023"}
    [comparison] = harness.run(Document(text=ANA), config)["comparisons"]
    assert comparison["reference"] == "corpus 2023" and comparison["reference_tokens"] == 3000
    rows = {row["term"]: row for row in comparison["positive"]}
    assert rows["café"]["log_likelihood"] == pytest.approx(11.50728, abs=1e-4)
    assert rows["água"]["reference_count"] == 0 and rows["água"]["percent_diff"] is None
    assert rows["água"]["log_likelihood"] == pytest.approx(1980 * math.log(4), abs=1e-3)
    # a plain {term: count} map: the total is the sum of the counts
    [plain] = harness.run(Document(text=ANA), {"reference_frequencies": {"café": 5, "água": 2995}})["comparisons"]
    assert plain["reference_tokens"] == 3000


def test_lemmas_count_the_forms_of_one_lemma_together(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[
        Segment(speaker="Ana", text="Eu gostei, ele gostou, nós gostamos."),
        Segment(speaker="Bia", text="Eu odiei e ele odiou.")])
    config = {"min_frequency": 1, "correction": "none", "alpha": 1.0, "target_speakers": ["Ana"]}
    forms = {row["term"] for row in harness.run(document, config)["comparisons"][0]["positive"]}
    assert {"gostei", "gostou", "gostamos"} <= forms
    [comparison] = harness.run(document, {**config, "lemmas": True})["comparisons"]
    rows = {row["term"]: row for row in comparison["positive"] + comparison["negative"]}
    assert rows["gostar"]["target_count"] == 3 and rows["odiar"]["reference_count"] == 2
    assert "gostei" not in rows


def test_stopwords_can_be_left_out_of_the_tests(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[Segment(speaker="Ana", text="o o o o o café café café"),
                                                            Segment(speaker="Bia", text="chá chá chá chá")])
    config = {"min_frequency": 1, "correction": "none", "alpha": 1.0, "target_speakers": ["Ana"]}
    assert "o" in {row["term"] for row in harness.run(document, config)["comparisons"][0]["positive"]}
    comparison = harness.run(document, {**config, "remove_stopwords": True})["comparisons"][0]
    assert "o" not in {row["term"] for row in comparison["positive"]} and comparison["target_tokens"] == 8


@pytest.mark.parametrize(("document", "config", "named"), [
    (Document(text="só um texto"), {}, "reference_text"),
    (MEETING, {"target_speakers": ["Zé"]}, "target_speakers"),
    (MEETING, {"reference_text": "x", "reference_frequencies": {"x": 1}}, "not both"),
    (Document(text="a b"), {"reference_frequencies": {"x": -1}}, "negative"),
    (Document(text="a b"), {"reference_frequencies": {"x": "many"}}, "reference_frequencies"),
    (Document(text="a b"), {"reference_frequencies": {"total": 1, "frequencies": {"x": 5}}}, "total"),
    (Document(text="123 456"), {"reference_text": "gato"}, "no words"),
])
def test_unusable_input_is_invalid_params(harness: PluginHarness, document: Document, config: dict,
                                          named: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(document, config)
    assert named in caught.value.message


def test_runs_as_a_real_process() -> None:
    answers = converse(ROOT / "plugins" / "keyness", [
        {"document": {"id": "a", "text": "gato gato gato cão"},
         "config": {"reference_text": "cão cão cão gato", "min_frequency": 1, "correction": "none", "alpha": 0.5}},
        {"document": {"text": "sem referência"}, "config": {}},
    ])
    assert answers[0]["result"]["id"] == "keyness"
    positive = answers[1]["result"]["result"]["comparisons"][0]["positive"]
    assert positive[0]["term"] == "gato" and positive[0]["log_likelihood"] == pytest.approx(1.046496, abs=1e-4)
    assert answers[2]["error"]["code"] == -32602
