"""plugins/_text/language: the language detector both bundled analyzers share."""
from __future__ import annotations

import pytest

from qualia.plugins._text.language import MIN_CONFIDENCE, detect, resolve


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
