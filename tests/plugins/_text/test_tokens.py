"""qualia.plugins._text.tokens: words with offsets, pieces, sentences and the analysis language."""
from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from qualia.plugin_sdk import Document, Segment
from qualia.plugins._text.tokens import Piece, count_words, pieces, resolve_language, sentences, spans, tokenize


def test_spans_are_lowercased_words_with_offsets_into_the_original() -> None:
    text = "AÇÃO: o e-mail não chegou, it's 10h."
    found = spans(text)
    assert [s.word for s in found] == ["ação", "o", "e-mail", "não", "chegou", "it's", "h"]
    assert all(text[s.start:s.end].lower() == s.word for s in found)


def test_pieces_are_segments_or_the_whole_text() -> None:
    document = Document(text="ignored when there are segments", segments=[
        Segment(speaker="Ana", start=1.0, end=2.0, text="Oi"), Segment(text="tchau")])
    assert pieces(document) == [Piece(0, "Oi", "Ana", 1.0, 2.0), Piece(1, "tchau", None, None, None)]
    assert pieces(Document(text="só texto")) == [Piece(0, "só texto")]


def test_sentences_end_at_terminal_punctuation_and_need_a_word() -> None:
    assert sentences("Oi! Tudo bem? Sim... e você “ótimo”. ?! 123.") == ["Oi!", "Tudo bem?", "Sim...",
                                                                           "e você “ótimo”."]
    assert sentences("sem ponto final") == ["sem ponto final"]


def test_language_comes_from_config_then_document_then_the_text() -> None:
    assert resolve_language("en", Document(text="o gato e o cão", language="pt")) == "en"
    assert resolve_language("auto", Document(text="the cat", language="pt")) == "pt"
    assert resolve_language("auto", Document(text="", segments=[Segment(text="o gato não é do cão")])) == "pt"
    assert resolve_language("auto", Document(text="the cat is not the dog")) == "en"


@given(st.lists(st.text(alphabet=st.sampled_from("ab çÃ-'’\n\t.,1_x—"), max_size=30), max_size=5))
def test_count_words_counts_exactly_the_tokens(texts: list[str]) -> None:
    expected: Counter[str] = Counter()
    for text in texts:
        expected.update(tokenize(text))
    assert count_words(texts) == expected
