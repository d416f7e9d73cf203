"""word_frequency: Unicode-aware counts, pt/en stopwords, n-grams, per speaker."""
from __future__ import annotations

import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness
from qualia.plugins.word_frequency import WordFrequency


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(WordFrequency)


def terms(result) -> dict[str, int]:
    return {row["term"]: row["count"] for row in result["frequencies"]}


def test_accents_are_kept_and_words_lowercased(harness):
    result = harness.run("AÇÃO, ação e Reação; a ação não pára.", {"language": "pt"})
    assert terms(result)["ação"] == 3
    assert "reação" in terms(result) and "pára" in terms(result)


def test_portuguese_stopwords_dropped_only_when_asked(harness):
    text = "O código de pagamento e o código do cadastro"
    assert "de" not in terms(harness.run(text, {"language": "pt"}))
    kept = terms(harness.run(text, {"language": "pt", "remove_stopwords": False}))
    assert kept["de"] == 1 and kept["código"] == 2


def test_english_stopwords(harness):
    result = harness.run("The export of the report is broken and the export is slow", {"language": "en"})
    assert "the" not in terms(result) and terms(result)["export"] == 2


def test_auto_language_detects_portuguese_and_english(harness):
    assert harness.run("Eu não gostei do cadastro, mas o tutorial foi bom.")["language"] == "pt"
    assert harness.run("I did not like the signup, but the tutorial was good.")["language"] == "en"
    assert harness.run(Document(text="the cat", language="pt"))["language"] == "pt"


def test_totals_and_relative_frequency(harness):
    result = harness.run("gato gato cachorro peixe", {"language": "pt"})
    assert result["total_tokens"] == 4 and result["counted_tokens"] == 4 and result["unique_terms"] == 3
    assert result["frequencies"][0] == {"term": "gato", "count": 2, "relative": 0.5}


def test_top_n_min_length_and_custom_stopwords(harness):
    text = "aa bbb bbb cccc cccc cccc dd"
    result = harness.run(text, {"language": "en", "top_n": 2, "min_length": 3, "stopwords": ["BBB"],
                                "remove_stopwords": False})
    assert [row["term"] for row in result["frequencies"]] == ["cccc"]
    result = harness.run(text, {"language": "en", "top_n": 2, "remove_stopwords": False})
    assert [row["term"] for row in result["frequencies"]] == ["cccc", "bbb"]


def test_ties_are_ranked_alphabetically(harness):
    result = harness.run("zeta alfa beta", {"language": "pt", "remove_stopwords": False})
    assert [row["term"] for row in result["frequencies"]] == ["alfa", "beta", "zeta"]


def test_bigrams_never_cross_segments(harness):
    document = Document(text="", segments=[Segment(text="cadastro confuso", speaker="Ana"),
                                           Segment(text="pagamento demorado", speaker="Ana")])
    result = harness.run(document, {"ngram": 2, "language": "pt"})
    assert terms(result) == {"cadastro confuso": 1, "pagamento demorado": 1}


def test_per_speaker_counts_add_up(harness):
    document = Document(text="", segments=[
        Segment(text="O aplicativo travou no pagamento.", speaker="Ana Souza"),
        Segment(text="O pagamento demorou.", speaker="Carlos Lima"),
        Segment(text="Aplicativo lento, pagamento lento.", speaker="Ana Souza")])
    result = harness.run(document, {"language": "pt", "top_n_per_speaker": 1})
    ana, carlos = result["speakers"]["Ana Souza"], result["speakers"]["Carlos Lima"]
    assert ana["frequencies"] == [{"term": "aplicativo", "count": 2, "relative": round(2 / ana["counted_tokens"], 6)}]
    assert ana["counted_tokens"] + carlos["counted_tokens"] == result["counted_tokens"]
    assert terms(result)["pagamento"] == 3
    assert harness.run(document, {"per_speaker": False})["speakers"] == {}


@pytest.mark.parametrize("config", [{"top_n": 0}, {"ngram": 4}, {"language": "fr"}, {"stopwords": [1]},
                                    {"unknown": True}])
def test_bad_config_is_invalid_params(harness, config):
    with pytest.raises(InvalidParams) as caught:
        harness.run("texto", config)
    assert next(iter(config)) in caught.value.message


def test_each_segment_drops_the_stopwords_of_its_own_language(harness):
    document = Document(text="", segments=[
        Segment(text="Nós não vamos mudar o cronograma da entrega agora.", speaker="Ana"),
        Segment(text="The schedule is fine, but the delivery should not slip again.", speaker="John"),
    ])
    result = harness.run(document)
    counted = terms(result)
    assert result["language"] == "pt" or result["language"] == "en"
    assert result["languages"] == {"pt": 1, "en": 1}
    for stopword in ("não", "the", "is", "but", "o", "da"):
        assert stopword not in counted
    assert {"cronograma", "entrega", "schedule", "delivery"} <= set(counted)
    # A language asked for applies to every segment: English stopwords stay in the Portuguese list's count.
    forced = harness.run(document, {"language": "pt"})
    assert forced["languages"] == {"pt": 2} and "the" in terms(forced)


def test_short_portuguese_text_is_not_counted_as_english(harness):
    result = harness.run("péssimo atendimento, entrega atrasada")
    assert result["language"] == "pt"
