"""sentiment_analyzer rules 2.1: the Portuguese cases the Olist tuning slice showed, on the real lexicons."""
from __future__ import annotations

import pytest

from qualia.plugins.sentiment_analyzer import rules
from qualia.plugins.sentiment_analyzer.lexicon import resources


def raw(text: str, language: str = "pt") -> rules.Raw:
    return rules.score(text, resources(language), 3)


def test_bem_ending_its_clause_is_praise() -> None:
    result = raw("O produto chegou muito bem")
    assert result.total > 0
    assert [token for token, _ in result.evidence] == ["bem"]


def test_bem_before_a_word_only_intensifies() -> None:
    assert raw("Chegou bem grande").total == 0  # "grande" carries nothing, so neither does "bem"
    assert raw("bem ruim").total < raw("ruim").total < 0


def test_a_negated_bem_is_one_negation_not_two() -> None:
    result = raw("não ficou bem")
    assert result.total < 0
    assert len(result.evidence) == 1  # "bem" negated; "não chegou" is not also counted as bare negation


def test_a_negator_negates_the_nearest_sentiment_word_only() -> None:
    # "não" negates "o que eu esperava"; it must not also flip "deixa a desejar" after it.
    result = raw("Não é exatamente o que eu esperava deixa a desejar")
    assert result.total < 0
    assert all(value < 0 for _, value in result.evidence)
    assert raw("It is not good", "en").total < 0


@pytest.mark.parametrize("text", ["Chegaram as duas joias", "Chegou hoje sem comentários",
                                  "No aguardo de um retorno urgente"])
def test_words_without_polarity_stay_neutral(text: str) -> None:
    # A correction to 0 also stops the inflected-form lookup ("joias" must not fall back to LeIA's "joia").
    assert raw(text).total == 0


@pytest.mark.parametrize("text, sign", [
    ("O produto superou minhas expectativas", 1), ("Atendeu minha expectativa", 1), ("Ficou show", 1),
    ("Faltou uma peça", -1), ("A caixa chegou amassada", -1), ("Pedi reembolso e sem resposta", -1),
    ("O frete é muito caro", -1),
])
def test_review_vocabulary_added_in_2_1(text: str, sign: int) -> None:
    assert raw(text).total * sign > 0
