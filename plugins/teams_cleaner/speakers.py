"""Speaker names: one spelling per person, so per-speaker counts add up.

Names are always trimmed with inner whitespace collapsed; then aliases map
to a canonical name (matched case-insensitively); then the case rule applies
to every name, canonical ones included.
"""
from __future__ import annotations

from typing import Any

from qualia.plugin_sdk import InputError

# Kept lowercase inside a title-cased name: "João da Silva", "Ludwig van Beethoven".
_PARTICLES = frozenset("da de do das dos di du del della e y van von der den la le".split())


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def title_case(name: str) -> str:
    words = []
    for index, word in enumerate(name.split(" ")):
        if index and word.lower() in _PARTICLES:
            words.append(word.lower())
        else:
            words.append("-".join(part[:1].upper() + part[1:].lower() for part in word.split("-")))
    return " ".join(words)


_CASES = {"keep": lambda name: name, "title": title_case, "lower": str.lower, "upper": str.upper}


class SpeakerNormaliser:
    def __init__(self, case: str, aliases: dict[str, Any]) -> None:
        self._case = _CASES[case]
        self._aliases: dict[str, str] = {}
        for alias, canonical in aliases.items():
            if not isinstance(canonical, str) or not canonical.strip():
                raise InputError(f"speaker_aliases[{alias!r}] must be a non-empty string, got {canonical!r}",
                                 {"key": "speaker_aliases"})
            self._aliases[_key(alias)] = " ".join(canonical.split())

    def __call__(self, name: str | None) -> str | None:
        if name is None:
            return None
        name = " ".join(name.split())
        if not name:
            return None
        return self._case(self._aliases.get(name.casefold(), name))
