"""sentiment_analyzer 2.2, as specifications: Portuguese review language that 2.1 scored 0 or backwards, on the
real lexicons (the cases come from general usage and the Olist tuning slice, never from the held-out sets)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from qualia.plugins.sentiment_analyzer import rules
from qualia.plugins.sentiment_analyzer.lexicon import resources

ROOT = Path(__file__).resolve().parents[2]


def total(text: str) -> float:
    return rules.score(text, resources("pt"), 3).total


@pytest.mark.parametrize("text", ["O produto não foi entregue.", "Não é o que eu pedi.", "Meu pedido não foi entregue"])
def test_a_negator_before_a_neutral_verb_is_a_complaint(text: str) -> None:
    assert total(text) < 0


@pytest.mark.parametrize("text", ["Não sei.", "Não tenho certeza"])
def test_a_negator_before_a_verb_of_knowing_or_having_says_nothing_by_itself(text: str) -> None:
    assert total(text) >= 0


@pytest.mark.parametrize("text", ["Comprei dois e só veio um", "Recebi apenas uma unidade",
                                  "Comprei 2 lâmpadas e veio só uma", "Mandaram outra cor"])
def test_a_partial_or_wrong_delivery_is_negative(text: str) -> None:
    assert total(text) < 0


@pytest.mark.parametrize("text", ["Ainda estou aguardando o produto.", "Aguardo retorno",
                                  "Continuo aguardando solução", "A compra foi feita há um mês e até agora nada."])
def test_still_waiting_is_negative(text: str) -> None:
    assert total(text) < 0


@pytest.mark.parametrize("text, sign", [("Produto de baixa qualidade", -1), ("Produto de qualidade", 1),
                                        ("Conforme o esperado", 1), ("Nota 1000", 1), ("Chegou bem embalado", 1),
                                        ("Esquema de entrega é um fracasso", -1), ("ruin", -1),
                                        ("Tudo perfeito", 1), ("Chegou antes do previsto", 1)])
def test_review_phrases_carry_their_polarity(text: str, sign: int) -> None:
    assert total(text) * sign > 0


@pytest.mark.parametrize("text", ["O pagamento foi realizado", "Vou testar o funcionamento amanhã",
                                  "Comprei uma tesoura"])
def test_everyday_words_carry_no_polarity(text: str) -> None:
    assert total(text) == 0


def test_a_concession_counts_half_and_the_main_clause_decides() -> None:
    text = "Apesar de não ter um bom acabamento, o produto é bem funcional."
    result = rules.score(text, resources("pt"), 3)
    assert result.total > 0
    conceded = dict(result.evidence)["bom"]
    assert conceded == pytest.approx(rules.score("não ter um bom acabamento", resources("pt"), 3).total * 0.5)
    assert total("Embora caro, é ótimo") > 0


def test_embora_is_not_a_contrast_pivot_any_more() -> None:
    # As a pivot, "embora" raised what follows it by half: "Embora caro" made "caro" count 1.5 times.
    assert "embora" not in resources("pt").contrast
    assert total("É ótimo, embora caro") > 0


def test_the_evaluation_reads_a_star_file_starting_with_one_star_as_negative(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("eval_sentiment", ROOT / "scripts" / "eval_sentiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "stars.tsv"
    path.write_text("Não gostei\t1\nBom\t5\nMais ou menos\t3\nRuim\t2\n", encoding="utf-8")
    assert module.read_set(path) == [("Não gostei", -1), ("Bom", 1), ("Ruim", -1)]
    binary = tmp_path / "binary.tsv"
    binary.write_text("Bom\t1\nRuim\t0\n", encoding="utf-8")
    assert module.read_set(binary) == [("Bom", 1), ("Ruim", -1)]
