"""plugins/_text/language: the language detector both bundled analyzers share."""
from __future__ import annotations

import pytest

from qualia.plugin_sdk import Document, Segment
from qualia.plugins._text.language import METADATA_KEY, MIN_CONFIDENCE, adopt, detect, record, resolve


@pytest.mark.parametrize("text, language", [
    ("péssimo", "pt"), ("não funciona", "pt"), ("adorei", "pt"), ("entrega rápida", "pt"),
    ("the search never finds anything", "en"), ("great product", "en"),
    ("la reunión de hoy fue muy productiva", "es"),
])
def test_short_text_is_identified(text: str, language: str) -> None:
    found = detect(text)
    assert found.language == language
    assert MIN_CONFIDENCE <= found.confidence <= 1


@pytest.mark.parametrize("text", ["", "   ", "123 456", "?!"])
def test_text_without_letters_is_undetermined(text: str) -> None:
    found = detect(text)
    assert found.language == "und" and found.confidence == 0.0 and found.weak


def test_resolve_falls_back_for_weak_or_unsupported_detections() -> None:
    assert resolve("péssimo", "en")[0] == "pt"
    assert resolve("la reunión de hoy fue muy productiva", "pt")[0] == "pt"  # es has no scorer
    assert resolve("...", "en") == ("en", detect("..."))


# ---- handing segment languages from the cleaner to the analyzers ---------------------------------

def segmented(*texts: str, recorded: object = None) -> Document:
    metadata = {} if recorded is None else {METADATA_KEY: recorded}
    return Document(text="\n".join(texts), metadata=metadata, segments=[Segment(text=t) for t in texts])


def test_recorded_languages_are_one_pair_per_text_as_detected() -> None:
    texts = ["não funciona", "great product", "?!"]
    assert record(texts) == [list(detect(text)) for text in texts]
    assert record(texts)[2] == ["und", 0.0]


def test_adopted_languages_answer_for_their_segments_and_only_for_that_document() -> None:
    """The analyzer trusts what the cleaner recorded (here deliberately unlike lingua's answer)."""
    assert adopt(segmented("não funciona", "great product", recorded=[["en", 0.9], ["pt", 0.8]])) == 2
    assert detect("não funciona") == ("en", 0.9) and detect("great product") == ("pt", 0.8)
    assert adopt(segmented("outra coisa")) == 0  # the next document recorded nothing
    assert detect("não funciona").language == "pt"


@pytest.mark.parametrize("recorded", [
    [["en", 0.9]],  # one pair for two segments: segments were added or dropped after the cleaner
    {"0": ["en", 0.9]},
    "en",
])
def test_a_record_that_does_not_fit_the_segments_is_ignored(recorded: object) -> None:
    assert adopt(segmented("não funciona", "great product", recorded=recorded)) == 0
    assert detect("não funciona").language == "pt"


@pytest.mark.parametrize("bad_pair", [["xx", 0.5], ["pt", 1.5], ["pt", True], ["pt"], "pt"])
def test_a_malformed_pair_is_detected_again_and_the_others_kept(bad_pair: object) -> None:
    adopt(segmented())
    lingua = detect("não funciona")
    assert adopt(segmented("não funciona", "great product", recorded=[bad_pair, ["pt", 0.8]])) == 1
    assert detect("não funciona") == lingua and detect("great product") == ("pt", 0.8)
