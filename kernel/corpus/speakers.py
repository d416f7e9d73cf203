"""Speaker names across meetings: one person, one name.

Names are matched on a normalised form (Unicode NFKC, accents and case
folded, spaces collapsed, a trailing "(Guest)"/"(Convidado)" or e-mail
dropped), so "ANA SOUZA", "Ana  Souza" and "Ana Souza (Guest)" are one
speaker. An aliases file maps other spellings to the name to use:

```toml
# aliases.toml: alias = "canonical name", or canonical name = [aliases]
"Ana S." = "Ana Souza"
"Carlos Lima" = ["carlos", "C. Lima"]
```

(JSON with the same shape works too; an `[aliases]` table is also read.)
The displayed name is the alias target, else the first spelling seen.
"""
from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import BadAliases

__all__ = ["SpeakerNames", "load_aliases", "normalise"]

_SUFFIX = re.compile(r"\s*(\((guest|convidad[oa]|external|externo|externa)\)|<[^>]*@[^>]*>)\s*$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def normalise(name: str) -> str:
    """The form two spellings of one name share."""
    text = unicodedata.normalize("NFKC", name).strip()
    text = _SUFFIX.sub("", text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text).casefold().strip()


def load_aliases(path: Path) -> dict[str, str]:
    """{normalised alias: canonical name} from a TOML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadAliases(f"cannot read the aliases file {path}: {exc.strerror or exc}", path=str(path)) from None
    try:
        raw: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadAliases(f"aliases file {path}: {exc}", path=str(path)) from None
    if isinstance(raw, dict) and isinstance(raw.get("aliases"), dict):
        raw = raw["aliases"]
    if not isinstance(raw, dict):
        raise BadAliases(f"aliases file {path}: expected a table of alias = \"name\"", path=str(path))
    aliases: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value.strip():
            aliases[normalise(key)] = value.strip()
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            aliases[normalise(key)] = key.strip()
            for item in value:
                aliases[normalise(item)] = key.strip()
        else:
            raise BadAliases(f"aliases file {path}: entry {key!r} must be a name or a list of names, "
                               f"got {value!r}", path=str(path), entry=key)
    return aliases


class SpeakerNames:
    """Gives every spelling of a speaker one display name, across every document of a corpus."""

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self.aliases = {normalise(key): value for key, value in (aliases or {}).items()}
        self._names: dict[str, str] = {}
        self._seen: dict[str, str] = {}  # spelling -> display name: each spelling is normalised once
        self.spellings: dict[str, set[str]] = {}

    def __call__(self, name: str | None) -> str:
        if name is None:
            return ""
        known = self._seen.get(name)
        if known is not None:
            return known
        self._seen[name] = display = self._display(name)
        return display

    def _display(self, name: str) -> str:
        if not name.strip():
            return ""
        key = normalise(name)
        target = self.aliases.get(key)
        if target is not None:
            key = normalise(target)
        display = self._names.setdefault(key, target or name.strip())
        self.spellings.setdefault(display, set()).add(name.strip())
        return display
