"""A source file becomes Documents, or an error naming the file and the reason.

The corpus engine's one way to read a file, through the kernel's readers
(`qualia.kernel.readers`, what every other command and upload uses), so a
file gives the same Documents in `batch`, `watch`, jobs and `analyze`. It
hashes the bytes it reads: the resume check compares that hash.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from qualia.plugin_sdk.archives import ArchiveLimits
from qualia.plugin_sdk.document import Document

from .. import readers
from ..errors import UnreadableInput

__all__ = ["file_digest", "read_bytes", "read_file", "source_bytes"]


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_file(path: str | Path, *, label: str | None = None, text_column: str | None = None,
              limits: ArchiveLimits | None = None) -> tuple[str, list[Document]]:
    """(SHA-256 of the bytes, the Documents in the file: one, or one per row of a CSV)."""
    label = label or str(path)
    data = source_bytes(path, label=label)
    return hashlib.sha256(data).hexdigest(), read_bytes(data, Path(path).name, label=label, text_column=text_column,
                                                        limits=limits)


def source_bytes(path: str | Path, *, label: str | None = None) -> bytes:
    """The file's bytes, or UnreadableInput naming the file and the reason."""
    label = label or str(path)
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise UnreadableInput(f"{label}: is a folder, not a file", file=label, reason="is a folder") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnreadableInput(f"{label}: cannot be read: {reason}", file=label, reason=reason) from None


def read_bytes(data: bytes, filename: str, *, label: str, text_column: str | None = None,
               limits: ArchiveLimits | None = None) -> list[Document]:
    """Uploaded bytes (a job's files) as Documents."""
    return readers.read_bytes(data, filename, label=label, text_column=text_column, limits=limits)
