"""Keyness chart visualizer: one comparison of `keyness` as diverging bars.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | png | png, svg or html |
| comparison | string | "" | the target to draw (a speaker's name, ...); empty: the first; `all`: a panel each |
| measure | string | log_ratio | log_ratio (effect size) or log_likelihood (signed: negative keywords to the left) |
| top_n | integer 1-100 | 15 | keywords per side |
| language | string | auto | labels in pt or en; auto follows the analysis |
| source | string | "" | named in the title; empty: the document's file name or id |
| title | string | "" | overrides the automatic title |
| width, height | integer | 900, 600 | pixels (height of each panel) |

Positive keywords (relatively more frequent in the target) point right in
blue, negative ones (more frequent in the reference) left in vermillion
(Okabe-Ito colours, told apart with any colour-vision deficiency); each side
is ranked by the chosen measure. A note gives the terms tested, the correction
and alpha. Hovering a bar (HTML) shows both counts, log-likelihood, the
corrected p-value, Log Ratio and %DIFF.

A comparison without keywords still gives a figure: its note says that no
term reached significance (a finding too, and a pipeline over many files goes on).

Errors (-32602): a missing or malformed `keyness`, no comparison, an unknown
comparison.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from qualia.plugin_sdk import Document, Figure, InputError, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input
from qualia.plugins._charts.report import OKABE_ITO, label_language, source_name, titled

ARTEFACT = "keyness"
ALL = "all"  # `comparison = "all"`: a panel per comparison (unless a target is named "all")
POSITIVE, NEGATIVE = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
LABELS = {
    "en": {"title": "Keywords: {target} vs {reference}", "all": "Keywords of each comparison",
           "shared": "Keywords: {correction}, alpha = {alpha}; each target against its reference.",
           "more": "more frequent {where}",
           "log_ratio": "Log Ratio (binary log of the ratio of relative frequencies)",
           "log_likelihood": "log-likelihood (negative keywords to the left)",
           "note": "{shown} of {keywords} keywords shown; {tested} terms tested, {correction}, "
                   "alpha = {alpha}. Target {target_tokens} words, reference {reference_tokens} words.",
           "tip": "{term}\n{target}: {a} ({ta} per million)\n{reference}: {b} ({tb} per million)\n"
                  "log-likelihood {ll}, corrected p {p}\nLog Ratio {lr}, %DIFF {diff}",
           "corrections": {"benjamini_hochberg": "Benjamini-Hochberg correction", "holm": "Holm correction",
                           "bonferroni": "Bonferroni correction", "none": "no correction"},
           "undefined": "undefined (absent from the reference)",
           "empty": "No term is a keyword at this alpha and correction."},
    "pt": {"title": "Palavras-chave: {target} × {reference}", "all": "Palavras-chave de cada comparação",
           "shared": "Palavras-chave: {correction}, alfa = {alpha}; cada alvo contra a sua referência.",
           "more": "mais frequente {where}",
           "log_ratio": "Log Ratio (log₂ da razão entre frequências relativas)",
           "log_likelihood": "log-verossimilhança (palavras-chave negativas à esquerda)",
           "note": "{shown} de {keywords} palavras-chave; {tested} termos testados, {correction}, "
                   "alfa = {alpha}. Alvo com {target_tokens} palavras, referência com {reference_tokens}.",
           "tip": "{term}\n{target}: {a} ({ta} por milhão)\n{reference}: {b} ({tb} por milhão)\n"
                  "log-verossimilhança {ll}, p corrigido {p}\nLog Ratio {lr}, %DIFF {diff}",
           "corrections": {"benjamini_hochberg": "correção de Benjamini-Hochberg", "holm": "correção de Holm",
                           "bonferroni": "correção de Bonferroni", "none": "sem correção"},
           "undefined": "indefinido (ausente da referência)",
           "empty": "Nenhum termo é palavra-chave com este alfa e esta correção."},
}
REFERENCES = {  # keyness's default reference labels: (name, "in" + name) in each language
    "en": {"rest": ("the rest", "in the rest"), "reference text": ("the reference text", "in the reference text"),
           "reference corpus": ("the reference corpus", "in the reference corpus")},
    "pt": {"rest": ("restante", "no restante"), "reference text": ("texto de referência", "no texto de referência"),
           "reference corpus": ("corpus de referência", "no corpus de referência")},
}
IN = {"en": "in {name}", "pt": "em {name}"}


def reference_names(language: str, label: str) -> tuple[str, str]:
    return REFERENCES[language].get(label, (label, IN[language].format(name=label)))


class Keyword(msgspec.Struct):
    term: str
    target_count: int
    reference_count: int
    log_likelihood: float
    log_ratio: float
    p_adjusted: float
    target_per_million: float = 0.0
    reference_per_million: float = 0.0
    percent_diff: float | None = None


class Comparison(msgspec.Struct):
    target: str
    reference: str
    positive: list[Keyword]
    negative: list[Keyword]
    tested: int = 0
    positive_total: int | None = None
    negative_total: int | None = None
    target_tokens: int = 0
    reference_tokens: int = 0


class KeynessResult(msgspec.Struct):
    comparisons: list[Comparison]
    language: str = ""
    correction: str = "none"
    alpha: float = 0.05


@dataclass(frozen=True)
class Bar:
    term: str
    value: float
    positive: bool
    tip: str


@dataclass(frozen=True)
class Panel:
    """One comparison: its bars, legend and note."""

    heading: str  # "Ana vs the rest": shown above the panel when a chart has several
    bars: list[Bar]  # positive first (largest on top), then negative (largest at the bottom)
    legend: list[tuple[str, str]]
    note: str


@dataclass(frozen=True)
class Chart:
    title: str
    axis: str
    panels: list[Panel]
    width: int
    height: int  # of each panel
    note: str = ""  # shared by every panel when there are several


class KeynessChart(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        data = read_input(inputs, ARTEFACT, KeynessResult)
        chart = build_chart(data, config, label_language(config["language"], {"language": data.language}, document),
                            source_name(config["source"], document))
        fmt = config["format"]
        if fmt == "html":
            from .page import html_chart

            return Figure.of_format(html_chart(chart), fmt)
        from .plot import plot  # matplotlib loads here, on the first PNG/SVG only

        return Figure.of_format(plot(chart, fmt), fmt)


def pick(data: KeynessResult, wanted: str) -> list[Comparison]:
    if not data.comparisons:
        raise InputError(f"nothing to draw: {ARTEFACT}.comparisons is empty", {"artefact": ARTEFACT})
    if not wanted:
        return data.comparisons[:1]
    chosen = [comparison for comparison in data.comparisons if comparison.target == wanted]
    if chosen:
        return chosen[:1]
    if wanted == ALL:
        return list(data.comparisons)
    raise InputError(f"`comparison` {wanted!r} is not among the targets {[c.target for c in data.comparisons]} "
                     f"(or {ALL!r})", {"key": "comparison"})


def number(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def build_chart(data: KeynessResult, config: dict[str, Any], language: str, source: str) -> Chart:
    words = LABELS[language]
    comparisons = pick(data, config["comparison"])
    panels = [panel(comparison, data, config, language) for comparison in comparisons]
    if len(comparisons) == 1:
        reference, _ = reference_names(language, comparisons[0].reference)
        heading = words["title"].format(target=comparisons[0].target, reference=reference)
    else:
        heading = words["all"]
    note = "" if len(panels) == 1 else words["shared"].format(
        correction=words["corrections"].get(data.correction, data.correction), alpha=f"{data.alpha:g}")
    return Chart(title=config["title"] or titled(heading, source), axis=words[config["measure"]], panels=panels,
                 width=config["width"], height=config["height"], note=note)


def panel(comparison: Comparison, data: KeynessResult, config: dict[str, Any], language: str) -> Panel:
    words = LABELS[language]
    reference, in_reference = reference_names(language, comparison.reference)
    measure, top = config["measure"], config["top_n"]

    def bar(keyword: Keyword, positive: bool) -> Bar:
        value = keyword.log_ratio if measure == "log_ratio" else keyword.log_likelihood * (1 if positive else -1)
        diff = words["undefined"] if keyword.percent_diff is None else f"{keyword.percent_diff:+.1f}%"
        tip = words["tip"].format(term=keyword.term, target=comparison.target, reference=reference,
                                  a=keyword.target_count, b=keyword.reference_count,
                                  ta=number(keyword.target_per_million), tb=number(keyword.reference_per_million),
                                  ll=f"{keyword.log_likelihood:.2f}", p=f"{keyword.p_adjusted:.3g}",
                                  lr=f"{keyword.log_ratio:+.2f}", diff=diff)
        return Bar(keyword.term, value, positive, tip)

    positive = sorted((bar(k, True) for k in comparison.positive), key=lambda b: -b.value)[:top]
    negative = sorted((bar(k, False) for k in comparison.negative), key=lambda b: b.value)[:top]
    keywords = (comparison.positive_total if comparison.positive_total is not None else len(comparison.positive)) + \
               (comparison.negative_total if comparison.negative_total is not None else len(comparison.negative))
    note = words["note"].format(shown=len(positive) + len(negative), keywords=keywords, tested=comparison.tested,
                                correction=words["corrections"].get(data.correction, data.correction),
                                alpha=f"{data.alpha:g}", target_tokens=comparison.target_tokens,
                                reference_tokens=comparison.reference_tokens)
    if not positive and not negative:
        note = f"{words['empty']} {note}"
    return Panel(heading=words["title"].format(target=comparison.target, reference=reference),
                 bars=positive + negative[::-1],
                 legend=[(words["more"].format(where=IN[language].format(name=comparison.target)), POSITIVE),
                         (words["more"].format(where=in_reference), NEGATIVE)],
                 note=note)
