"""The Document model: one object that carries a text and its structure.

It crosses the process boundary in every `run` call, so it is a msgspec
Struct; every field but `text` has a default so old plugins keep decoding
documents that grow new fields.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Language = Literal["pt", "en", "auto"]


class Segment(msgspec.Struct, kw_only=True):
    """A stretch of speech or text; times are seconds from the start, or null."""

    text: Annotated[str, Meta(description="What was said in this stretch")]
    speaker: Annotated[str | None, Meta(description="Who said it (normalised by the cleaner), or null")] = None
    start: Annotated[float | None, Meta(description="Start, in seconds from the beginning, or null")] = None
    end: Annotated[float | None, Meta(description="End, in seconds from the beginning, or null")] = None


class Document(msgspec.Struct, kw_only=True):
    """A text and its structure: what every plugin receives in `run`, and what document plugins return."""

    id: Annotated[str, Meta(description="Names the document (a file's stem); figures are written under it")] = ""
    text: Annotated[str, Meta(description="The whole text")]
    language: Annotated[Language, Meta(description="pt, en, or auto (the plugin decides)")] = "auto"
    metadata: Annotated[dict[str, Any], Meta(
        description="Free JSON: filename, source, a cleaner's quality report; plugins add their own keys")] = {}
    segments: Annotated[list[Segment] | None, Meta(
        description="Speaker segments once a cleaner parsed the transcript; null before")] = None
