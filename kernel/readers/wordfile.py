"""Word .docx into text: paragraphs one per line, after the archive passed the zip-bomb checks.

A Teams .docx export keeps its layout as text (`Name   0:03` header lines
above each utterance), which the cleaner recognises as the `teams_docx`
layout; a plain interview .docx is simply its paragraphs.
"""
from __future__ import annotations

import io

from qualia.plugin_sdk.archives import ArchiveLimits, check_archive

__all__ = ["DocxProblem", "docx_text"]


class DocxProblem(ValueError):
    pass


def docx_text(data: bytes, label: str, limits: ArchiveLimits) -> tuple[str, int]:
    """The paragraphs' text joined by newlines, and the paragraph count. ArchiveError when refused."""
    names = check_archive(data, label, limits)
    if "word/document.xml" not in names:
        raise DocxProblem("a ZIP archive but not a Word document (no word/document.xml)")
    import docx  # python-docx, on first use: it pulls in lxml

    try:
        paragraphs = [paragraph.text for paragraph in docx.Document(io.BytesIO(data)).paragraphs]
    except Exception as exc:  # python-docx raises many types for a malformed file; all are bad input
        raise DocxProblem(f"not a readable Word document: {type(exc).__name__}: {exc}") from None
    return "\n".join(paragraphs).replace("\r\n", "\n").replace("\r", "\n"), len(paragraphs)
