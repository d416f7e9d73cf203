"""Keyness analyzer: the words that set a target apart from a reference.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| target_speakers | list | [] | speakers forming the target; empty: every speaker in turn (or the whole document) |
| reference_text | string | "" | another text as the reference |
| reference_frequencies | object | {} | a corpus: `{"total": N, "frequencies": {term: count}}` or `{term: count}` |
| reference_label | string | "" | the reference's name in the result |
| lemmas | boolean | false | count lemmas (simplemma), in target and reference alike |
| language | string | auto | lemma and stopword language |
| min_frequency | integer | 3 | terms with a + b below this are not tested |
| correction | string | benjamini_hochberg | benjamini_hochberg, holm, bonferroni or none, over the tested terms |
| alpha | number | 0.05 | keyword when the corrected p-value is below alpha |
| min_log_ratio | number | 0 | and when abs(Log Ratio) reaches this |
| top_n | integer | 50 | positive and negative keywords kept per comparison |
| remove_stopwords | boolean | false | stopwords are not tested (they still count in the totals) |

Where the reference comes from (one run sees one document):

- nothing given, a document with speakers: each speaker against the rest of the
  meeting (one comparison per speaker);
- `target_speakers`: those speakers together against the other speakers;
- `reference_text`: the document (or its `target_speakers`) against that text;
- `reference_frequencies`: against a corpus given as counts. For "this document
  against the rest of my corpus", count the rest with
  `scripts/reference_frequencies.py` (same tokenizer and lemmas) and send the
  JSON in `config` (API or pipeline file; the CLI's `-P` takes it as JSON text).
  A group of documents as the target: analyse their texts joined as one document.

Statistics in `measures.py`: log-likelihood (Rayson & Garside 2000), Log Ratio
(Hardie 2014), %DIFF (Gabrielatos & Marchi 2012), p-values corrected over the
tested terms. Positive keywords are relatively more frequent in the target,
negative ones in the reference; both ranked by log-likelihood.

Result: `language`, `lemmas`, `correction`, `alpha`, `method`, and
`comparisons`: one per target, each with `target`, `reference`, token totals,
`tested`, `positive`/`negative` keyword rows (`term`, `target_count`,
`reference_count`, per-million rates, `log_likelihood`, `p`, `p_adjusted`,
`log_ratio`, `percent_diff`) and the counts of keywords before `top_n`.

Errors (-32602): no reference possible (a document without two speakers and no
reference given), an unknown target speaker, both reference_text and
reference_frequencies, malformed reference_frequencies, an empty target or
reference.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import msgspec

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugins._text.lemmas import lemmatizer
from qualia.plugins._text.stopwords import stopwords
from qualia.plugins._text.tokens import count_words, pieces, resolve_language

from .measures import adjust, log_likelihood, log_ratio, p_value, percent_diff

METHOD = ("log-likelihood (Rayson & Garside 2000), Log Ratio (Hardie 2014), %DIFF (Gabrielatos & Marchi 2012), "
          "chi-square p-values (1 d.f.) corrected over the tested terms")


class Counts(NamedTuple):
    label: str
    tokens: int
    terms: Counter[str]


class Frequencies(msgspec.Struct):
    frequencies: dict[str, int]
    total: int | None = None


def count(texts: list[str], lemma: Any) -> tuple[int, Counter[str]]:
    words = count_words(texts)
    total = sum(words.values())
    return total, (lemma.counts(words) if lemma else words)


def reference_counts(raw: dict[str, Any], lemma: Any) -> tuple[int, Counter[str]]:
    """`reference_frequencies` checked: counts are whole numbers >= 0, the total covers them."""
    shaped = raw if "frequencies" in raw else {"frequencies": raw}
    try:
        parsed = msgspec.convert(shaped, Frequencies)
    except msgspec.ValidationError as exc:
        raise InputError(f"`reference_frequencies` is malformed: {str(exc).replace('`$', '`reference_frequencies')}",
                         {"key": "reference_frequencies"}) from None
    if any(value < 0 for value in parsed.frequencies.values()):
        raise InputError("`reference_frequencies` holds a negative count", {"key": "reference_frequencies"})
    counts = Counter({term.lower(): 0 for term in parsed.frequencies})
    for term, value in parsed.frequencies.items():
        counts[term.lower()] += value
    summed = sum(counts.values())
    total = summed if parsed.total is None else parsed.total
    if total < summed:
        raise InputError(f"`reference_frequencies.total` ({total}) is below the sum of its counts ({summed})",
                         {"key": "reference_frequencies"})
    return total, (lemma.counts(counts) if lemma else counts)


def comparisons(document: Document, config: dict[str, Any], lemma: Any) -> list[tuple[Counts, Counts]]:
    """(target, reference) pairs the configuration asks for."""
    by_speaker: dict[str, list[str]] = {}
    everything = []
    for piece in pieces(document):
        everything.append(piece.text)
        if piece.speaker is not None:
            by_speaker.setdefault(piece.speaker, []).append(piece.text)
    chosen = config["target_speakers"]
    unknown = [name for name in chosen if name not in by_speaker]
    if unknown:
        raise InputError(f"`target_speakers`: no segments by {unknown}; the document's speakers are "
                         f"{sorted(by_speaker)}", {"key": "target_speakers"})
    target_texts = [t for name in chosen for t in by_speaker[name]] if chosen else everything
    target_label = " + ".join(chosen) if chosen else (document.id or "document")
    if config["reference_text"] and config["reference_frequencies"]:
        raise InputError("give `reference_text` or `reference_frequencies`, not both", {"key": "reference_text"})
    if config["reference_text"]:
        return [(Counts(target_label, *count(target_texts, lemma)),
                 Counts(config["reference_label"] or "reference text", *count([config["reference_text"]], lemma)))]
    if config["reference_frequencies"]:
        return [(Counts(target_label, *count(target_texts, lemma)),
                 Counts(config["reference_label"] or "reference corpus",
                        *reference_counts(config["reference_frequencies"], lemma)))]
    rest_label = config["reference_label"] or "rest"
    if chosen:
        rest = [t for name, texts in by_speaker.items() if name not in chosen for t in texts]
        return [(Counts(target_label, *count(target_texts, lemma)), Counts(rest_label, *count(rest, lemma)))]
    if len(by_speaker) < 2:
        raise InputError(f"keyness needs a reference: this document has {len(by_speaker)} speaker(s); give "
                         "`reference_text` or `reference_frequencies` (or a transcript with two or more speakers)",
                         {"key": "reference_text"})
    counted = {name: count(texts, lemma) for name, texts in by_speaker.items()}
    all_terms: Counter[str] = Counter()
    for _, terms in counted.values():
        all_terms.update(terms)
    all_tokens = sum(tokens for tokens, _ in counted.values())
    pairs = []
    for name, (tokens, terms) in counted.items():
        rest = Counts(rest_label, all_tokens - tokens, all_terms - terms)  # Counter subtraction drops zeros
        pairs.append((Counts(name, tokens, terms), rest))
    return pairs


def compare(target: Counts, reference: Counts, config: dict[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    c, d = target.tokens, reference.tokens
    if c == 0 or d == 0:
        empty = target.label if c == 0 else reference.label
        raise InputError(f"nothing to compare: {empty!r} has no words", {"key": "reference_text"})
    a_of, b_of, minimum = target.terms, reference.terms, config["min_frequency"]
    terms = sorted(term for term in a_of.keys() | b_of.keys()  # sorted: ties rank alphabetically
                   if a_of[term] + b_of[term] >= minimum and term not in skip)
    # Statistics for every tested term (the correction needs all p-values); rows only for the keywords.
    scores = [log_likelihood(a_of[term], b_of[term], c, d) for term in terms]
    p_values = [p_value(ll) for ll in scores]
    adjusted = adjust(p_values, config["correction"])
    alpha, min_ratio = config["alpha"], config["min_log_ratio"]
    keywords = []
    for index, term in enumerate(terms):
        if adjusted[index] >= alpha:
            continue
        a, b = a_of[term], b_of[term]
        ratio = log_ratio(a, b, c, d)
        if abs(ratio) < min_ratio:
            continue
        keywords.append({"term": term, "target_count": a, "reference_count": b,
                         "target_per_million": round(a * 1e6 / c, 2), "reference_per_million": round(b * 1e6 / d, 2),
                         "log_likelihood": scores[index], "p": p_values[index], "p_adjusted": adjusted[index],
                         "log_ratio": ratio, "percent_diff": percent_diff(a, b, c, d)})
    keywords.sort(key=lambda row: -row["log_likelihood"])
    positive = [row for row in keywords if row["log_ratio"] > 0]
    negative = [row for row in keywords if row["log_ratio"] < 0]
    top = config["top_n"]
    return {"target": target.label, "reference": reference.label, "target_tokens": c, "reference_tokens": d,
            "tested": len(terms), "positive_total": len(positive), "negative_total": len(negative),
            "positive": [rounded(row) for row in positive[:top]], "negative": [rounded(row) for row in negative[:top]]}


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    diff = row["percent_diff"]
    return {"term": row["term"], "target_count": row["target_count"], "reference_count": row["reference_count"],
            "target_per_million": row["target_per_million"], "reference_per_million": row["reference_per_million"],
            "log_likelihood": round(row["log_likelihood"], 4), "p": float(f"{row['p']:.4g}"),
            "p_adjusted": float(f"{row['p_adjusted']:.4g}"), "log_ratio": round(row["log_ratio"], 4),
            "percent_diff": None if diff is None else round(diff, 2)}


class Keyness(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        language = resolve_language(config["language"], document)
        lemma = lemmatizer(language) if config["lemmas"] else None
        skip = stopwords(language) if config["remove_stopwords"] else frozenset()
        if lemma is not None and skip:
            skip = frozenset(skip | {lemma(word) for word in skip})
        results = [compare(target, reference, config, skip)
                   for target, reference in comparisons(document, config, lemma)]
        return {"language": language, "lemmas": config["lemmas"], "correction": config["correction"],
                "alpha": config["alpha"], "min_frequency": config["min_frequency"], "method": METHOD,
                "comparisons": results}
