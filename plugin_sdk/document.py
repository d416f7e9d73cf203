"""The Document model: one object that carries a text and its structure.

It crosses the process boundary in every `run` call, so it is a msgspec
Struct; every field but `text` has a default so old plugins keep decoding
documents that grow new fields.
"""
from __future__ import annotations

from typing import Any, Literal

import msgspec

Language = Literal["pt", "en", "auto"]


class Segment(msgspec.Struct, kw_only=True):
    """A stretch of speech or text; times are seconds from the start, or null."""

    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


class Document(msgspec.Struct, kw_only=True):
    id: str = ""
    text: str
    language: Language = "auto"
    metadata: dict[str, Any] = {}
    segments: list[Segment] | None = None
