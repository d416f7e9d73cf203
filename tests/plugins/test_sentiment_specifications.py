"""Issue 11's sentiment and language cases, as specifications, through the real plugin process."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qualia.plugin_sdk.testing import converse

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "sentiment_analyzer"

# (text, language forced or "auto", expected sign): the errors the issue lists, one process for all.
CASES = [
    ("não funciona", "auto", -1),
    ("ainda não recebi o produto", "auto", -1),
    ("péssimo", "auto", -1),
    ("ótima", "pt", 1),
    ("entrega rápida", "pt", 1),
    ("adorei", "auto", 1),
    ("amei", "auto", 1),
    ("valeu a pena", "pt", 1),
    ("Produto muito bom,a única coisa é a cor", "pt", 1),
    ("the mobile app is confusing and the search never finds anything", "auto", -1),
    ("Não recomendo, deixou muito a desejar.", "auto", -1),
    ("Não vi nenhum problema.", "pt", 1),
]


@pytest.fixture(scope="module")
def answers() -> list[dict[str, Any]]:
    runs = [{"document": {"text": text}, "config": {"language": language}} for text, language, _ in CASES]
    runs.append({"document": {"text": "", "segments": [
        {"text": "Bom dia a todos, vamos começar a reunião de planejamento.", "speaker": "Ana"},
        {"text": "Thanks, the new dashboard looks great and the team loves it.", "speaker": "John"},
        {"text": "péssimo", "speaker": "Ana"},
        {"text": "Eu acho que o prazo ficou apertado, mas a entrega foi excelente.", "speaker": "Ana"},
    ]}, "config": {}})
    runs.append({"document": {"text": "Vou realizar o pagamento no valor do número combinado."}, "config": {}})
    runs.append({"document": {"text": "The release went really well and everyone is happy."},
                 "config": {"language": "pt"}})
    runs.append({"document": {"text": "Hola a todos, la reunión de hoy fue muy productiva y estamos contentos."},
                 "config": {}})
    answers = converse(PLUGIN, runs, timeout=60)
    assert all("result" in answer for answer in answers), answers
    return [answer["result"]["result"] for answer in answers[1:1 + len(runs)]]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[text for text, _, _ in CASES])
def test_issue_cases_get_the_right_sign_and_are_not_zero(answers: list[dict[str, Any]], case: int) -> None:
    text, _, sign = CASES[case]
    result = answers[case]
    segment = result["segments"][0]
    assert segment["polarity"] * sign > 0.05, (text, segment)
    assert segment["label"] == ("positive" if sign > 0 else "negative")
    # The evidence names what drove the score, with the score's sign.
    assert segment["evidence"], text
    assert segment["evidence"][0]["contribution"] * sign > 0


def test_short_portuguese_without_stopwords_is_detected_as_portuguese(answers: list[dict[str, Any]]) -> None:
    for case in (0, 2, 5, 6):  # "não funciona", "péssimo", "adorei", "amei" with language auto
        result = answers[case]
        assert result["language"] == "pt" and result["segments"][0]["language"] == "pt"
        assert result["language_detection"]["source"] == "detected"
        assert result["language_detection"]["confidence"] >= 0.5
        assert result["warnings"] == []


def test_bare_negation_is_the_evidence(answers: list[dict[str, Any]]) -> None:
    evidence = answers[0]["segments"][0]["evidence"]
    assert evidence[0]["token"] == "não funciona"


def test_idiom_is_one_unit_and_pena_is_not_negative(answers: list[dict[str, Any]]) -> None:
    evidence = answers[7]["segments"][0]["evidence"]
    assert [item["token"] for item in evidence] == ["valeu a pena"]


def test_comma_without_space_splits_clauses(answers: list[dict[str, Any]]) -> None:
    tokens = [item["token"] for item in answers[8]["segments"][0]["evidence"]]
    assert "bom" in tokens


def test_english_complaint_names_its_words(answers: list[dict[str, Any]]) -> None:
    tokens = [item["token"] for item in answers[9]["segments"][0]["evidence"]]
    assert "confusing" in tokens and "never finds" in tokens


def test_code_switched_meeting_is_scored_per_segment(answers: list[dict[str, Any]]) -> None:
    result = answers[len(CASES)]
    assert [s["language"] for s in result["segments"]] == ["pt", "en", "pt", "pt"]
    assert all(s["language_confidence"] >= 0.5 for s in result["segments"])
    assert result["language"] == "pt" and result["languages"] == {"pt": 3, "en": 1}
    assert set(result["methods"]) == {"pt", "en"}
    assert result["methods"]["en"]["language"] == "en" and "VADER" in result["methods"]["en"]["name"]
    assert any("more than one language" in warning for warning in result["warnings"])
    english = result["segments"][1]
    assert english["label"] == "positive"
    assert {item["token"] for item in english["evidence"]} & {"great", "loves"}
    assert result["segments"][2]["label"] == "negative"
    # Contrast: what follows "mas" weighs more, so the praise of the delivery wins.
    assert result["segments"][3]["label"] == "positive"


def test_everyday_words_carry_no_polarity_and_score_exactly_zero(answers: list[dict[str, Any]]) -> None:
    result = answers[len(CASES) + 1]
    segment = result["segments"][0]
    assert segment["polarity"] == 0.0 and segment["label"] == "neutral" and segment["evidence"] == []


def test_requested_language_the_text_contradicts_is_warned(answers: list[dict[str, Any]]) -> None:
    result = answers[len(CASES) + 2]
    assert result["language"] == "pt" and result["language_detection"]["source"] == "requested"
    assert result["language_detection"]["language"] == "en"
    assert len(result["warnings"]) == 1 and "'pt' was requested" in result["warnings"][0]
    assert "'en'" in result["warnings"][0]


def test_unsupported_language_is_warned_not_silently_scored(answers: list[dict[str, Any]]) -> None:
    result = answers[len(CASES) + 3]
    assert result["language_detection"]["language"] == "es"
    assert result["warnings"] and "'es'" in result["warnings"][0]
