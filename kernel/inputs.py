"""Turn files and bytes the user brings into Documents.

Text is decoded here (UTF-8, or UTF-16 with a BOM); anything else is passed on
as base64 in `metadata.content_base64` for a plugin that understands it (a
Teams .docx for teams_cleaner), so the kernel never parses formats itself.
"""
from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

from qualia.plugin_sdk.document import Document


def decode_text(data: bytes) -> str | None:
    """The text of `data`, or None when it is not text in a supported encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def document_from_bytes(data: bytes, filename: str = "") -> Document:
    digest = hashlib.sha256(data).hexdigest()[:16]
    doc_id = Path(filename).stem if filename else digest
    metadata: dict[str, object] = {"filename": filename, "sha256_16": digest} if filename else {"sha256_16": digest}
    text = decode_text(data)
    if text is None:
        metadata["content_base64"] = base64.b64encode(data).decode("ascii")
        return Document(id=doc_id, text="", metadata=metadata)
    return Document(id=doc_id, text=text.replace("\r\n", "\n"), metadata=metadata)


def load_document(source: str) -> Document:
    """Read a path, or stdin for `-`."""
    if source == "-":
        return document_from_bytes(sys.stdin.buffer.read(), "stdin")
    path = Path(source)
    return document_from_bytes(path.read_bytes(), path.name)
