"""Readability analyzer: Flesch Reading Ease for Portuguese and English, Flesch-Kincaid grade for English.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| language | string | auto | pt or en formula and syllable dictionary; auto: the document's language or detected |
| per_speaker | boolean | true | also score each speaker when the document has segments |

With ASL = words / sentences and ASW = syllables / words:

- Portuguese (Martins, Ghiraldelo, Nunes & Oliveira Jr. 1996):
  FRE = 248.835 - 1.015 ASL - 84.6 ASW; bands 75-100 very easy, 50-75 easy,
  25-50 difficult, 0-25 very difficult.
- English (Flesch 1948): FRE = 206.835 - 1.015 ASL - 84.6 ASW (bands 90+ very
  easy ... below 30 very difficult); Flesch-Kincaid grade (Kincaid et al. 1975)
  = 0.39 ASL + 11.8 ASW - 15.59. The grade is for English only (null for pt).

Scores are not clipped to 0-100. Words are the shared tokenizer's; a sentence
ends at . ! ? or … (every segment ends one); syllables come from pyphen's
hyphenation dictionaries (see `syllables.py` for what that under-counts).
Transcribed speech has no real sentence punctuation beyond what the captioner
wrote, so compare like with like.

Result: `language`, `formula`, `citation`, `syllables_from`, the document's
`sentences`, `words`, `syllables`, `asl`, `asw`, `flesch_reading_ease`,
`flesch_kincaid_grade`, `band`, and `speakers` (the same per speaker).

Errors (-32602): a text without words.
"""
from __future__ import annotations

from typing import Any

from qualia.plugin_sdk import AnalyzerPlugin, Document, InputError
from qualia.plugins._text.tokens import pieces, resolve_language, sentences, tokenize

from .syllables import DICTIONARIES, VERSION, counter

FORMULAS = {
    "pt": ("Flesch Reading Ease, Portuguese adaptation: 248.835 - 1.015 ASL - 84.6 ASW",
           "Martins, T. B. F., Ghiraldelo, C. M., Nunes, M. G. V., Oliveira Jr., O. N. (1996). Readability formulas "
           "applied to textbooks in Brazilian Portuguese. Notas do ICMSC-USP, Série Computação, 28."),
    "en": ("Flesch Reading Ease: 206.835 - 1.015 ASL - 84.6 ASW; Flesch-Kincaid grade: 0.39 ASL + 11.8 ASW - 15.59",
           "Flesch, R. (1948). A new readability yardstick. Journal of Applied Psychology 32(3), 221-233. Kincaid, "
           "J. P., Fishburne, R. P., Rogers, R. L., Chissom, B. S. (1975). Derivation of new readability formulas for "
           "Navy enlisted personnel. Research Branch Report 8-75."),
}
BANDS = {
    "pt": ((75, "very easy"), (50, "easy"), (25, "difficult"), (float("-inf"), "very difficult")),
    "en": ((90, "very easy"), (80, "easy"), (70, "fairly easy"), (60, "standard"), (50, "fairly difficult"),
           (30, "difficult"), (float("-inf"), "very difficult")),
}


def band(language: str, score: float) -> str:
    return next(name for floor, name in BANDS[language] if score >= floor)


def score(texts: list[str], language: str) -> dict[str, Any]:
    """Counts and scores of a group of texts; the caller checks that it holds words."""
    syllables_of = counter(language)
    sentence_count = sum(len(sentences(text)) for text in texts)
    words = [word for text in texts for word in tokenize(text)]
    syllables = sum(syllables_of(word) for word in words)
    if not words:
        return {"sentences": sentence_count, "words": 0, "syllables": 0, "asl": None, "asw": None,
                "flesch_reading_ease": None, "flesch_kincaid_grade": None, "band": None}
    asl, asw = len(words) / sentence_count, syllables / len(words)
    if language == "pt":
        fre, grade = 248.835 - 1.015 * asl - 84.6 * asw, None
    else:
        fre, grade = 206.835 - 1.015 * asl - 84.6 * asw, 0.39 * asl + 11.8 * asw - 15.59
    return {"sentences": sentence_count, "words": len(words), "syllables": syllables, "asl": round(asl, 4),
            "asw": round(asw, 4), "flesch_reading_ease": round(fre, 2),
            "flesch_kincaid_grade": None if grade is None else round(grade, 2), "band": band(language, fre)}


class Readability(AnalyzerPlugin):
    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        language = resolve_language(config["language"], document)
        by_speaker: dict[str, list[str]] = {}
        texts = []
        for piece in pieces(document):
            texts.append(piece.text)
            if piece.speaker is not None:
                by_speaker.setdefault(piece.speaker, []).append(piece.text)
        whole = score(texts, language)
        if not whole["words"]:
            raise InputError("readability needs a text with words; this one has none", {"field": "document.text"})
        formula, citation = FORMULAS[language]
        speakers = {name: score(group, language) for name, group in by_speaker.items()} if config["per_speaker"] else {}
        return {"language": language, "formula": formula, "citation": citation,
                "syllables_from": f"pyphen {VERSION} hyphenation dictionary hyph_{DICTIONARIES[language]}",
                **whole, "speakers": speakers}
