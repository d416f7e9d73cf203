"""Lexicon and rules: VADER's method (Hutto & Gilbert 2014) over a language's `Resources`, with the
Portuguese fixes the old scorer lacked, and every contribution kept as evidence.

Steps for one text (a segment or a sentence):

1. Tokens: words, numbers, emoticons and punctuation, so "muito bom,a única" splits at the comma; an emoji
   becomes its description words. Punctuation and contrast words ("mas", "but") end a clause.
2. Idioms ("valeu a pena", "deixa a desejar", "waste of money") are matched first, longest first, and score
   as one unit; their words are not looked up again.
3. Each remaining word takes its lexicon valence (VADER scale -4..4), trying other forms of a word the
   lexicon lacks (gender/number, regular verb endings). Boosters never carry valence of their own.
4. Modifiers, within the clause: boosters up to three words before (0.293 each, 5 % less per step of
   distance, in the word's direction); ALL CAPS when the text is not all caps (+0.733); a negator up to
   `negation_window` words before, with no other sentiment word between them, multiplies by -0.74 once however many negators there are (negative
   concord: "não vi nenhum problema"); "nunca ... tão"/"never so" emphasises instead.
5. A negator with no sentiment word after it in its clause still says something: "não funciona", "ainda
   não recebi o produto", "never finds anything" count `BARE_NEGATION` (unless the next word is a verb of
   knowing or being, as in "não sei", "I don't know").
   A booster that has a valence of its own ("bem") counts it when it ends its clause ("chegou bem").
6. Contrast: before the first "mas"/"but" half weight, after it 1.5 times. A concessive word ("apesar",
   "embora") halves its own clause, up to the next punctuation: "apesar de não ter um bom acabamento, é
   bem funcional" is praise.
7. The sum, with VADER's "!"/"?" emphasis added in its direction, is the raw score.
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple

from .lexicon import Resources

TOKEN = re.compile(
    r"(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*(?:-[^\W\d_]+)*|\d+(?:[.,]\d+)?)"
    r"|(?P<emoticon>(?<!\w)[:;=8][-o*']?[()\[\]dDpP/\\|3](?!\w)|<3)"
    r"|(?P<punct>[,;:.!?…]+)"
)
BOOSTER_DAMPING = (1.0, 0.95, 0.9)
BOOSTER_REACH = 3
CAPS_INCREMENT = 0.733
NEGATION_SCALAR = -0.74
BARE_NEGATION = -1.2  # a negator that negates no sentiment word ("não funciona"), VADER scale
NEVER_WORDS = frozenset({"nunca", "never"})
NEVER_SO = frozenset({"tao", "tanto", "tanta", "so", "this"})
NEVER_SO_SCALAR = 1.25
CONTRAST_BEFORE, CONTRAST_AFTER = 0.5, 1.5
CONCEDED = CONTRAST_BEFORE  # a conceded clause weighs as the clause before a "mas" does
EMOTICONS = {":)": 2.0, ":-)": 2.0, ":(": -2.0, ":-(": -2.0, ":d": 2.3, ":-d": 2.3, ";)": 1.5, ":/": -1.0,
             ":p": 1.0, "<3": 2.5, "=)": 2.0, "=(": -2.0, ":'(": -2.2, ":|": -0.5}


class Token(NamedTuple):
    text: str  # as written
    lower: str
    key: str  # folded lookup key
    ends_clause: bool
    emoticon: bool = False


class Unit(NamedTuple):
    """A word, an emoticon or a matched idiom: what gets one valence."""

    text: str
    key: str
    ends_clause: bool
    valence: float | None  # lexicon valence, None when the unit carries none
    caps: bool


class Raw(NamedTuple):
    total: float  # the raw score (VADER scale, unbounded)
    evidence: list[tuple[str, float]]  # (text, contribution to total), in text order
    matched: int  # units that carried valence (0: nothing in the text was recognised)


def tokenize(text: str, res: Resources) -> list[Token]:
    for emoji, description in res.emojis.items() if any(ord(c) > 0x2000 for c in text) else ():
        if emoji in text:
            text = text.replace(emoji, f" {description} ")
    tokens: list[Token] = []
    for match in TOKEN.finditer(text.replace("’", "'")):
        if match.lastgroup == "punct":
            if tokens:
                tokens[-1] = tokens[-1]._replace(ends_clause=True)
            continue
        raw = match.group()
        lower = raw.lower()
        if match.lastgroup == "emoticon":
            tokens.append(Token(raw, lower, lower, False, True))
        else:
            tokens.append(Token(raw, lower, res.fold(lower), False))
    return tokens


def lookup(token: Token, res: Resources) -> float | None:
    if token.emoticon:
        return EMOTICONS.get(token.key)
    if token.key in res.boosters or token.key in res.negators or token.key in res.neutral:
        return None
    value = res.lexicon.get(token.key)
    if value is not None:
        return value
    if len(token.key) < 4:
        return None
    for variant in res.variants(token.lower):
        value = res.lexicon.get(res.fold(variant))
        if value is not None:
            return value
    return None


def units_of(tokens: list[Token], res: Resources, starts: dict[str, tuple[int, ...]]) -> list[Unit]:
    units: list[Unit] = []
    i = 0
    while i < len(tokens):
        for length in starts.get(tokens[i].key, ()):
            window = tokens[i:i + length]
            if len(window) == length and not any(t.ends_clause for t in window[:-1]):
                value = res.idioms.get(tuple(t.key for t in window))
                if value is not None:
                    units.append(Unit(" ".join(t.text for t in window), " ".join(t.key for t in window),
                                      window[-1].ends_clause, value, False))
                    i += length
                    break
        else:
            token = tokens[i]
            i += 1
            if len(token.key) == 1 and not token.key.isdigit() and not token.emoticon:
                # One-letter words ("o", "a", "é", "I") do not count as distance, as in VADER.
                if token.ends_clause and units:
                    units[-1] = units[-1]._replace(ends_clause=True)
                continue
            caps = token.text.isupper() and len(token.text) > 1
            units.append(Unit(token.text, token.key, token.ends_clause, lookup(token, res), caps))
    return units


def clause_before(units: list[Unit], i: int, reach: int, res: Resources) -> list[Unit]:
    """Up to `reach` units before `i`, nearest first, not crossing punctuation or a contrast word."""
    scope: list[Unit] = []
    for j in range(i - 1, max(i - 1 - reach, -1), -1):
        if units[j].ends_clause or units[j].key in res.contrast:
            break
        scope.append(units[j])
    return scope


def score(text: str, res: Resources, negation_window: int) -> Raw:
    tokens = tokenize(text, res)
    if not tokens:
        return Raw(0.0, [], 0)
    units = units_of(tokens, res, idiom_starts(res))
    capitals = sum(unit.caps for unit in units)
    caps_differ = 0 < capitals < len(units)
    reach = max(BOOSTER_REACH, negation_window)
    valences: list[float] = [0.0] * len(units)
    negated_something: set[int] = set()  # negators whose scope held a sentiment word
    matched = 0
    for i, unit in enumerate(units):
        if unit.valence is None:
            continue
        matched += 1
        valence = unit.valence
        direction = 1.0 if valence >= 0 else -1.0
        if caps_differ and unit.caps:
            valence += direction * CAPS_INCREMENT
        scope = clause_before(units, i, reach, res)
        for distance, previous in enumerate(scope[:BOOSTER_REACH]):
            boost = res.boosters.get(previous.key)
            if boost is not None:
                if caps_differ and previous.caps:
                    boost += CAPS_INCREMENT if boost > 0 else -CAPS_INCREMENT
                valence += direction * boost * BOOSTER_DAMPING[distance]
        before = tuple(u.key for u in reversed(scope[:BOOSTER_REACH]))
        for length in (3, 2):
            phrase = res.booster_phrases.get(before[-length:]) if len(before) >= length else None
            if phrase is not None:
                valence += direction * phrase
                break
        window = []  # a negator negates the nearest sentiment word after it, not one beyond that
        for previous in scope[:negation_window]:
            if previous.valence is not None:
                break
            window.append(previous)
        negators = [k for k, u in enumerate(window) if u.key in res.negators]
        if negators:
            keys = [u.key for u in window]
            never = next((k for k in negators if keys[k] in NEVER_WORDS), None)
            if never is not None and any(key in NEVER_SO for key in keys[:never]):
                valence *= NEVER_SO_SCALAR
            else:
                valence *= NEGATION_SCALAR
            negated_something.update(i - 1 - k for k in negators)
        valences[i] = valence
    negated_something |= standalone(units, res, negation_window, valences)
    evidence_text = [unit.text for unit in units]
    bare_negation(units, res, negation_window, negated_something, valences, evidence_text)
    concession(units, res, valences)
    contrast(units, res, valences)
    evidence = [(evidence_text[i], v) for i, v in enumerate(valences) if v]
    total = sum(valences)
    if total:
        emphasis = punctuation_emphasis(text)
        if emphasis:
            total += math.copysign(emphasis, total)
            evidence.append(("!" if "!" in text else "?", math.copysign(emphasis, total)))
    return Raw(total, evidence, matched + sum(1 for i, v in enumerate(valences) if v and units[i].valence is None))


def bare_negation(units: list[Unit], res: Resources, window: int, negated: set[int], valences: list[float],
                  evidence_text: list[str]) -> None:
    """A negator that negated nothing in its clause counts as a negative statement ("não funciona")."""
    if window == 0:
        return
    clause_has_bare = False
    for i, unit in enumerate(units):
        if unit.key in res.negators and i not in negated and not clause_has_bare:
            following = units[i + 1] if i + 1 < len(units) and not unit.ends_clause else None
            if following is not None and following.key not in res.negation_exempt \
                    and following.key not in res.negators:
                valences[i] = BARE_NEGATION
                evidence_text[i] = f"{unit.text} {following.text}"
                clause_has_bare = True  # negative concord: "não fiz nada" is one negation
        if unit.ends_clause or unit.key in res.contrast:
            clause_has_bare = False


def standalone(units: list[Unit], res: Resources, negation_window: int, valences: list[float]) -> set[int]:
    """A booster with a valence of its own ("bem") counts it when no sentiment word follows in its reach:
    "chegou muito bem" is praise, "bem ruim" only intensifies. Returns the negators that negated one."""
    negators: set[int] = set()
    if not res.standalone_boosters:
        return negators
    for i, unit in enumerate(units):
        if unit.key not in res.standalone_boosters:
            continue
        value = res.lexicon.get(unit.key)
        if not value:
            continue
        last_in_clause = unit.ends_clause or i + 1 == len(units) or units[i + 1].key in res.contrast
        if not last_in_clause:
            continue  # "bem embalado", "bem ruim": an intensifier
        scope = clause_before(units, i, negation_window, res)
        found = {i - 1 - k for k, u in enumerate(scope) if u.key in res.negators}
        negators |= found
        valences[i] = value * (NEGATION_SCALAR if found else 1.0)
    return negators


def concession(units: list[Unit], res: Resources, valences: list[float]) -> None:
    """A concessive word ("apesar", "embora") and the rest of its clause count `CONCEDED`: what is conceded
    weighs less than what the sentence goes on to say."""
    conceded = False
    for i, unit in enumerate(units):
        if unit.key in res.concessive:
            conceded = True
        if conceded:
            valences[i] *= CONCEDED
        if unit.ends_clause:
            conceded = False


def contrast(units: list[Unit], res: Resources, valences: list[float]) -> None:
    """VADER's "but" rule: what comes before the first contrast word counts less, what follows it more."""
    pivot = next((i for i, unit in enumerate(units) if unit.key in res.contrast), None)
    if pivot is None:
        return
    for i in range(len(valences)):
        if i < pivot:
            valences[i] *= CONTRAST_BEFORE
        elif i > pivot:
            valences[i] *= CONTRAST_AFTER


def punctuation_emphasis(text: str) -> float:
    """VADER: up to four "!" add 0.292 each; two or more "?" add 0.18 each (at most 0.96)."""
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    return exclamations + (0.0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96)


_STARTS: dict[int, dict[str, tuple[int, ...]]] = {}


def idiom_starts(res: Resources) -> dict[str, tuple[int, ...]]:
    """For each word that begins an idiom, the lengths of its idioms, longest first: most words begin
    none, so most tokens skip the idiom windows altogether (the longest match still wins)."""
    starts = _STARTS.get(id(res))
    if starts is None:
        lengths: dict[str, set[int]] = {}
        for key in res.idioms:
            lengths.setdefault(key[0], set()).add(len(key))
        starts = _STARTS[id(res)] = {word: tuple(sorted(found, reverse=True)) for word, found in lengths.items()}
    return starts


def squash(total: float) -> float:
    """VADER's normalisation into -1..1 (alpha 15)."""
    return total / math.sqrt(total * total + 15) if total else 0.0
