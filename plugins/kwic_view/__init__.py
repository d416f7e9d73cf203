"""KWIC page visualizer: the `concordance` result as a page a researcher can read, sort and print.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | html | html only |
| language | string | auto | labels in pt or en; auto follows the analysis |
| source | string | "" | named in the title; empty: the document's file name or id |
| title | string | "" | overrides the automatic title |

A visualizer of its own (rather than a figure inside `concordance`) so the
analysis stays a table in JSON and the page is one more consumer of it, like
the charts of word_frequency. The page holds the query, the hits per 1,000
words, a table of hits per speaker, and the lines: left context aligned on the
node, the node highlighted, the right context. It opens in the order the
concordance was sorted; three buttons re-sort it (text order, left context
read outwards L1, L2, ..., right context R1, R2, ...) with a small inline
script. No URL, external script, style sheet or font.

Errors (-32602): a missing or malformed `concordance`.
"""
from __future__ import annotations

from typing import Any

import msgspec

from qualia.plugin_sdk import Document, Figure, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input
from qualia.plugins._charts.report import label_language, source_name

from .page import kwic_page

ARTEFACT = "concordance"


class Line(msgspec.Struct):
    left: str
    node: str
    right: str
    segment: int = 0
    offset: int = 0
    speaker: str | None = None
    start: float | None = None


class Query(msgspec.Struct):
    word: str
    match: str = "word"
    lemmas: bool = False


class SpeakerHits(msgspec.Struct):
    hits: int
    words: int
    per_1000_words: float


class ConcordanceResult(msgspec.Struct):
    query: Query
    hits: int
    words: int
    lines: list[Line]
    per_1000_words: float = 0.0
    sort: str = "position"
    truncated: bool = False
    language: str = ""
    speakers: dict[str, SpeakerHits] = {}


class KwicView(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        data = read_input(inputs, ARTEFACT, ConcordanceResult)
        language = label_language(config["language"], {"language": data.language}, document)
        return Figure.of_format(kwic_page(data, language, source_name(config["source"], document), config["title"]),
                                "html")
