"""Bytes into text: a byte-order mark, else strict UTF-8, else charset-normalizer's guess.

charset-normalizer ranks candidate encodings by how messy the decoded text
looks; for short Western texts several code pages tie, and the first may be
cp1250, which reads Portuguese `ã` as `ă`. Qualia's languages are Portuguese
and English, so among candidates no messier than the best, a Western one
(cp1252, which is latin-1 plus curly quotes, dashes and €) wins; and when no
candidate is Western (a line or two gives the detector too little to go on),
cp1252 is still taken if its decoding is not a mess (charset-normalizer's
mess ratio below 0.5; Cyrillic or Greek read as cp1252 score above 1). Text
that no encoding reads, or that decodes to control characters, is binary.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
from charset_normalizer.md import mess_ratio

__all__ = ["DecodedText", "NotText", "decode_text"]

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_WESTERN = frozenset({"cp1252", "latin_1", "iso8859_1", "iso8859_15"})
_TIE = 0.02  # chaos within this of the best counts as a tie
_FALLBACK_MESS = 0.5
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
MAX_CONTROL_SHARE = 0.01


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # a Python codec name: utf-8, utf-8-sig, utf-16, cp1252, ...
    confidence: float  # 1.0 for a BOM or valid UTF-8; else 1 - charset-normalizer's chaos of the decoding


class NotText(ValueError):
    """The bytes are not text in an encoding we can tell; the message says why."""


def decode_text(data: bytes) -> DecodedText:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise NotText(f"starts with a {codec.upper()} byte-order mark but byte {exc.start} is invalid "
                              f"{codec.upper()}") from None
            return _checked(DecodedText(text.lstrip("\ufeff"), codec, 1.0))
    if b"\x00" not in data:
        try:
            return _checked(DecodedText(data.decode("utf-8"), "utf-8", 1.0))
        except UnicodeDecodeError:
            pass
    return _checked(_guess(data))


def _guess(data: bytes) -> DecodedText:
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        raise NotText("no text encoding reads it: it looks like binary data")
    best = matches[0]
    chosen, codec = best, best.encoding
    for match in matches:
        if match.chaos > best.chaos + _TIE:
            continue
        western = [name for name in match.could_be_from_charset if name in _WESTERN]
        if western:
            codec = "cp1252" if "cp1252" in western else western[0]
            return _decode_western(data, codec, match.chaos)
    western_mess = mess_ratio(_decode_western(data, "cp1252", 0.0).text, 1.0)
    if western_mess < _FALLBACK_MESS:
        return _decode_western(data, "cp1252", western_mess)
    return DecodedText(str(chosen), codec, round(max(0.0, 1.0 - chosen.chaos), 3))


def _decode_western(data: bytes, codec: str, chaos: float) -> DecodedText:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 reads every byte
        codec = "latin_1"
        text = data.decode(codec)
    return DecodedText(text, codec, round(max(0.0, 1.0 - chaos), 3))


def _checked(decoded: DecodedText) -> DecodedText:
    text = decoded.text
    if "\x00" in text:
        raise NotText(f"decoded as {decoded.encoding} it holds NUL characters: it looks like binary data")
    bad = len(_CONTROL.findall(text))
    if bad > MAX_CONTROL_SHARE * max(len(text), 1):
        raise NotText(f"decoded as {decoded.encoding}, {bad} of {len(text)} characters are control characters: "
                      f"it looks like binary data")
    return decoded
