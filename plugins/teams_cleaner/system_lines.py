"""Meeting events that Teams and Zoom write into transcripts (joins, leaves, transcription on/off).

They are not speech: a line is a system line only when the whole line is such
an event, so a speaker saying "ele saiu da reunião cedo" is never touched.
"""
from __future__ import annotations

import re

from .model import looks_like_name

# "<Name> <event>", Portuguese then English.
_NAMED_EVENTS = (
    r"(?:entrou|ingressou) na reunião",
    r"saiu da reunião",
    r"(?:iniciou|começou|parou|interrompeu|encerrou) a (?:transcrição|gravação)",
    r"(?:has )?(?:joined|left) the (?:meeting|call)",
    r"(?:has )?(?:started|stopped|ended) (?:the )?(?:transcription|recording)",
    r"(?:started|stopped) (?:transcribing|recording)",
)
# Events without a name.
_BARE_EVENTS = (
    r"(?:a )?(?:transcrição|gravação) (?:foi )?(?:iniciada|interrompida|parada|encerrada|começou|parou)",
    r"(?:the )?(?:transcription|recording) (?:has )?(?:started|stopped|ended)",
)
_NAMED = re.compile(rf"(?P<name>.+?)\s+(?:{'|'.join(_NAMED_EVENTS)})[.!]?", re.IGNORECASE)
_BARE = re.compile(rf"(?:{'|'.join(_BARE_EVENTS)})[.!]?", re.IGNORECASE)
_MAX_LENGTH = 120  # events are short; also bounds the regex work on long lines


def is_system_line(text: str) -> bool:
    text = " ".join(text.split())
    if not text or len(text) > _MAX_LENGTH:
        return False
    if _BARE.fullmatch(text):
        return True
    match = _NAMED.fullmatch(text)
    return match is not None and looks_like_name(match["name"])
