"""A source file becomes Documents, or an error naming the file and the reason.

The one place the corpus engine reads files, so batch, watch and jobs read
exactly like every other command. It hashes the bytes it reads (the resume
check compares that hash) and hands them to the kernel's reader.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from qualia.plugin_sdk.document import Document

from ..errors import UnreadableSource, UnsupportedMediaType
from ..inputs import document_from_bytes

__all__ = ["file_digest", "read_bytes", "read_file", "source_bytes"]

DOCX_SUFFIXES = (".docx",)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_file(path: str | Path, *, label: str | None = None) -> tuple[str, list[Document]]:
    """(sha256 of the bytes, the Documents in the file)."""
    label = label or str(path)
    data = source_bytes(path, label=label)
    return hashlib.sha256(data).hexdigest(), read_bytes(data, Path(path).name, label=label)


def source_bytes(path: str | Path, *, label: str | None = None) -> bytes:
    """The file's bytes, or UnreadableSource naming the file and the reason."""
    label = label or str(path)
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise UnreadableSource(f"{label}: is a folder, not a file", file=label, reason="is a folder") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnreadableSource(f"{label}: cannot be read: {reason}", file=label, reason=reason) from None


def read_bytes(data: bytes, filename: str, *, label: str) -> list[Document]:
    if not data.strip():
        raise UnreadableSource(f"{label}: the file is empty", file=label, reason="empty")
    document = document_from_bytes(data, filename)
    if not document.text.strip() and not filename.lower().endswith(DOCX_SUFFIXES):
        raise UnsupportedMediaType(f"{label}: not text in a supported encoding (binary data?)", file=label,
                                   reason="not text")
    return [document]

