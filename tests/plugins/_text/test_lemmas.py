"""qualia.plugins._text.lemmas: offline pt/en lemmas through simplemma, cached per word form."""
from __future__ import annotations

from collections import Counter

from qualia.plugins._text.lemmas import lemmatizer


def test_portuguese_verb_forms_share_a_lemma() -> None:
    lemma = lemmatizer("pt")
    assert {lemma(w) for w in ("gostei", "gostou", "gostamos")} == {"gostar"}
    assert lemma("reuniões") == "reunião"


def test_english_forms_share_a_lemma() -> None:
    lemma = lemmatizer("en")
    assert lemma("meetings") == "meeting" and lemma("was") == "be"


def test_counts_of_forms_add_up_by_lemma() -> None:
    merged = lemmatizer("pt").counts(Counter({"gostei": 2, "gostou": 1, "reuniões": 3, "reunião": 1}))
    assert merged == Counter({"gostar": 3, "reunião": 4})


def test_one_lemmatizer_per_language_and_process() -> None:
    assert lemmatizer("pt") is lemmatizer("pt") and lemmatizer("pt") is not lemmatizer("en")
