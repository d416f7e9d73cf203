"""Frequency chart visualizer: bar chart of the most frequent terms of `word_frequencies`.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | png | png, svg or html (the reserved visualizer key) |
| style | string | bar | bar (vertical), barh (horizontal, ranked top down), grouped (a bar per speaker per term) |
| top_n | integer 1-200 | 20 | how many of the most frequent terms to show |
| title | string | "" | chart title; empty gives "Top 20 terms" (or bigrams, trigrams; "by speaker" when grouped) |
| width | integer 200-4000 | 900 | pixels; the PNG is exactly width x height, SVG and HTML scale from it |
| height | integer 150-4000 | 500 | pixels |

Input: `word_frequencies` (from word_frequency). The terms are the first
`top_n` of its ranked `frequencies`. `grouped` takes each speaker's count of
those terms from `speakers[name].frequencies`; a term missing from a speaker's
ranked list (word_frequency keeps `top_n_per_speaker` terms a speaker) has no
bar for that speaker, and the HTML says so in a note.

PNG and SVG are drawn by matplotlib (Agg, loaded on first use; SVG keeps text
as `<text>`). HTML is an inline SVG chart with a small inline script: hovering
a bar shows the term, speaker, count and share. It holds no URL, external
script, stylesheet or font, and does not load matplotlib.

Errors (-32602): a missing or malformed `word_frequencies` (the message names
the field), no terms to draw, `grouped` without speakers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from qualia.plugin_sdk import Document, Figure, InputError, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input

ARTEFACT = "word_frequencies"
NGRAM_UNITS = {1: "terms", 2: "bigrams", 3: "trigrams"}


class Term(msgspec.Struct):
    term: str
    count: Annotated[float, msgspec.Meta(ge=0)]
    relative: float | None = None


class SpeakerFrequencies(msgspec.Struct):
    frequencies: list[Term]


class WordFrequencies(msgspec.Struct):
    """The part of word_frequency's result this plugin reads; other fields are ignored."""

    frequencies: list[Term]
    speakers: dict[str, SpeakerFrequencies] = {}
    ngram: int = 1


@dataclass(frozen=True)
class Group:
    """The bars of one series: the total, or one speaker."""

    name: str
    counts: list[float | None]  # one per term; None: the term is not in this series' ranked list
    shares: list[float | None]  # count / counted tokens of the series, when known


@dataclass(frozen=True)
class Bars:
    """What the chart shows, whatever the output format."""

    title: str
    style: str
    terms: list[str]
    totals: list[float]  # each term's count in the whole text
    groups: list[Group]
    width: int
    height: int

    @property
    def has_gaps(self) -> bool:
        return any(count is None for group in self.groups for count in group.counts)


class FrequencyChart(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        bars = build_bars(read_input(inputs, ARTEFACT, WordFrequencies), config)
        fmt = config["format"]
        if fmt == "html":
            from .page import html_chart

            return Figure.of_format(html_chart(bars), fmt)
        from .plot import plot  # matplotlib loads here, on the first PNG/SVG only

        return Figure.of_format(plot(bars, fmt), fmt)


def build_bars(data: WordFrequencies, config: dict[str, Any]) -> Bars:
    top = data.frequencies[: config["top_n"]]
    if not top:
        raise InputError(f"nothing to draw: {ARTEFACT}.frequencies is empty", {"artefact": ARTEFACT})
    terms = [t.term for t in top]
    unit = NGRAM_UNITS.get(data.ngram, "terms")
    if config["style"] == "grouped":
        if not data.speakers:
            raise InputError(f"style 'grouped' needs speakers, but {ARTEFACT}.speakers is empty "
                             "(the document has no speaker segments)", {"key": "style"})
        groups = [speaker_group(name, s, terms) for name, s in data.speakers.items()]
        title = f"Top {len(terms)} {unit} by speaker"
    else:
        groups = [Group("all", [t.count for t in top], [t.relative for t in top])]
        title = f"Top {len(terms)} {unit}"
    return Bars(title=config["title"] or title, style=config["style"], terms=terms, totals=[t.count for t in top],
                groups=groups, width=config["width"], height=config["height"])


def speaker_group(name: str, speaker: SpeakerFrequencies, terms: list[str]) -> Group:
    ranked = {t.term: t for t in speaker.frequencies}
    counts: list[float | None] = []
    shares: list[float | None] = []
    for term in terms:
        found = ranked.get(term)
        counts.append(found.count if found else None)
        shares.append(found.relative if found else None)
    return Group(name, counts, shares)
