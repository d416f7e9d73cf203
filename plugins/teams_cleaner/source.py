"""Turn the incoming Document into numbered lines, or refuse input that is not text.

The kernel's readers turn files (a .docx too) into text before a plugin sees
them; a caller may still send a .docx itself as text "" plus
`metadata.content_base64`. It is read paragraph by paragraph (python-docx,
imported only then) once `plugin_sdk.archives.check_archive` has bounded its
inflation (a zip bomb is refused before parsing); UTF-8 text bytes are
accepted as text, and anything else is an InputError (-32602: the caller's
fault, not the plugin's).
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any, Literal

from qualia.plugin_sdk import Document, InputError

from .model import CONTROL_CHARS, Line, numbered_lines

_NON_SPACE = re.compile(r"\S+")
MAX_BAD_SHARE = 0.1
"""Above this share of control or U+FFFD characters, the text is binary data, not a transcript."""


@dataclass
class Source:
    lines: list[Line]  # for .docx: one entry per paragraph line, numbered by paragraph
    kind: Literal["text", "docx"]


def read_source(document: Document) -> Source:
    metadata = document.metadata
    encoded = metadata.get("content_base64")
    if encoded is None or document.text.strip():
        check_text(document.text, "the text")
        return Source(numbered_lines(document.text.lstrip("\ufeff")), "text")
    label = f"file {metadata['filename']!r}" if isinstance(metadata.get("filename"), str) else "the file"
    if not isinstance(encoded, str):
        raise InputError(f"metadata.content_base64 must be a base64 string, got {type(encoded).__name__}")
    data = _decode_base64(encoded, label)
    if data.startswith(b"PK\x03\x04"):
        return Source(docx_lines(data, label), "docx")
    text = decode_text_bytes(data, label)
    check_text(text, label)
    return Source(numbered_lines(text), "text")


def _decode_base64(encoded: str, label: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"metadata.content_base64 of {label} is not valid base64: {exc}") from None


def decode_text_bytes(data: bytes, label: str) -> str:
    """UTF-8 (BOM optional) or BOM-marked UTF-16; anything else is not a transcript we can read."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label} is neither a .docx nor UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"is invalid); a binary file cannot be cleaned, save text transcripts as UTF-8"
        ) from None


def check_text(text: str, label: str) -> None:
    if "\x00" in text:
        raise InputError(f"{label} contains NUL characters: it looks like a binary file, not a transcript")
    bad = len(CONTROL_CHARS.findall(text)) + text.count("\ufffd")
    if bad:
        significant = sum(map(len, _NON_SPACE.findall(text)))
        if bad > MAX_BAD_SHARE * max(significant, 1):
            raise InputError(
                f"{label} is mostly control or undecodable characters ({bad} of {len(text)}): "
                f"it looks like binary data, not a transcript"
            )


def docx_lines(data: bytes, label: str) -> list[Line]:
    """Paragraphs of a .docx, split at line breaks; numbered by paragraph for the quality report."""
    import io

    from qualia.plugin_sdk.archives import ArchiveError, ArchiveTooLarge, check_archive

    try:  # bounded before python-docx inflates anything: a zip bomb is refused here (QUALIA_MAX_UNPACKED_BYTES)
        names = check_archive(data, label)
    except ArchiveTooLarge as exc:
        raise InputError(str(exc), {"reason": "too_large"}) from None
    except ArchiveError as exc:
        raise InputError(f"{label} looks like a zip archive but cannot be opened: {exc}") from None
    if "word/document.xml" not in names:
        raise InputError(f"{label} is a zip archive but not a .docx (no word/document.xml)")
    import docx  # python-docx, lazily: it pulls in lxml, too slow for every start

    try:
        paragraphs = [paragraph.text for paragraph in docx.Document(io.BytesIO(data)).paragraphs]
    except Exception as exc:  # python-docx raises many types for a malformed file; all are bad input
        raise InputError(f"{label} is not a readable .docx: {type(exc).__name__}: {exc}") from None
    check_text("\n".join(paragraphs), label)
    lines: list[Line] = []
    for number, paragraph in enumerate(paragraphs, start=1):
        lines.extend((number, part) for part in paragraph.replace("\r", "\n").split("\n"))
    return lines


def without_payload(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata to pass on: the file's bytes are now the parsed text, so drop them."""
    return {key: value for key, value in metadata.items() if key != "content_base64"}
