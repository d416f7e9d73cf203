"""One way in: files and uploaded bytes become Documents, or an error naming the file and the reason.

Every front door reads through here: the CLI (`analyze`, `process`,
`visualize`, `pipeline`, `batch`), `POST /analyze/{id}/file`, the JSON routes
and jobs (for their texts). A module per format family:

| format | how | metadata |
| --- | --- | --- |
| text (.txt, .md, .vtt, .srt, anything else) | BOM, UTF-8, else charset-normalizer (`encoding`) | `encoding`, `encoding_confidence` |
| PDF | pypdf, page by page (`pdf`) | `pages` |
| Word .docx | python-docx paragraphs, after zip-bomb checks (`wordfile`) | `paragraphs` |
| CSV / TSV of survey answers | one Document per row (`table`), the answer from `text_column` | `row`, `line`, `columns` (the other cells), `encoding` |

Every Document also gets `filename`, `sha256_16` (of the file's bytes),
`source_format`, and `transcript` (the layout, see `transcripts`) when its text
is a meeting transcript: analyses clean those first unless asked not to.

Refused, as QualiaError subclasses (kernel.errors): an empty file
(EmptyInput), binary data or an undetectable encoding (UnsupportedFormat, 415),
a PDF without a text layer (NoTextLayer), an archive that would inflate past
the limits (InputTooLarge, 413), anything else unreadable (UnreadableInput).
Each says `<file>: <reason>` and carries `details.file` and `details.reason`.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from qualia.plugin_sdk.archives import ArchiveError, ArchiveLimits, ArchiveTooLarge
from qualia.plugin_sdk.document import Document

from ..errors import EmptyInput, InputTooLarge, NoTextLayer, UnreadableInput, UnsupportedFormat
from .encoding import NotText, decode_text
from .pdf import PdfProblem, pdf_text
from .table import TableProblem, read_table
from .transcripts import TRANSCRIPT_LAYOUTS, transcript_layout
from .wordfile import DocxProblem, docx_text

__all__ = ["SUFFIX_FORMATS", "TRANSCRIPT_LAYOUTS", "ArchiveLimits", "document_layout", "read_bytes",
           "read_documents", "read_source", "text_document", "transcript_layout"]

SUFFIX_FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".vtt": "vtt",
                  ".srt": "srt", ".csv": "csv", ".tsv": "csv", ".pdf": "pdf", ".docx": "docx"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc / .xls


def read_documents(path: str | Path, *, text_column: str | None = None,
                   limits: ArchiveLimits | None = None) -> list[Document]:
    """The Documents in the file at `path` (several for a CSV)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UnreadableInput(f"{path}: is a folder, not a file", file=str(path), reason="is a folder")
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnreadableInput(f"{path}: cannot be read: {reason}", file=str(path), reason=reason) from None
    return read_bytes(data, path.name, text_column=text_column, limits=limits, label=str(path))


def read_source(source: str, *, text_column: str | None = None,
                limits: ArchiveLimits | None = None) -> list[Document]:
    """A command-line FILE argument: a path, or `-` for standard input."""
    if source == "-":
        return read_bytes(sys.stdin.buffer.read(), "", text_column=text_column, limits=limits, label="stdin",
                          doc_id="stdin")
    return read_documents(source, text_column=text_column, limits=limits)


def text_document(text: str, *, doc_id: str = "", **fields: Any) -> Document:
    """A Document for a text given directly (a JSON route, a job), its transcript layout recorded."""
    document = Document(id=doc_id, text=text, **fields)
    layout = transcript_layout(text)
    if layout is not None:
        document.metadata = {**document.metadata, "transcript": layout}
    return document


def document_layout(document: Document) -> str | None:
    """The transcript layout of a Document: as its reader recorded it (`metadata.transcript`), else detected.

    A document that already has segments was parsed by a cleaner and is no longer raw.
    """
    if document.segments is not None:
        return None
    if "transcript" in document.metadata:
        layout = document.metadata["transcript"]
        return layout if isinstance(layout, str) and layout else None
    return transcript_layout(document.text)


def read_bytes(data: bytes, filename: str = "", *, text_column: str | None = None,
               limits: ArchiveLimits | None = None, label: str | None = None,
               doc_id: str | None = None) -> list[Document]:
    """The Documents in `data`; `filename` (the client's name, metadata only) helps tell the format."""
    label = label or filename or "the input"
    digest = hashlib.sha256(data).hexdigest()[:16]
    base_id = doc_id if doc_id is not None else (Path(filename).stem if filename else digest)
    metadata: dict[str, Any] = {"filename": filename, "sha256_16": digest} if filename else {"sha256_16": digest}

    def refuse(error: type[UnreadableInput], reason: str) -> UnreadableInput:
        return error(f"{label}: {reason}", file=label, reason=reason)

    if not data.strip():
        raise refuse(EmptyInput, "the file is empty" if not data else "the file holds only whitespace")
    fmt = _format(data, filename, text_column)
    if fmt == "pdf":
        if not data.startswith(b"%PDF-"):
            raise refuse(UnsupportedFormat, "named .pdf but not a PDF (no %PDF- header)")
        try:
            text, pages = pdf_text(data)
        except PdfProblem as exc:
            raise refuse(NoTextLayer if exc.scanned else UnreadableInput, str(exc)) from None
        return [_document(base_id, text, {**metadata, "source_format": "pdf", "pages": pages})]
    if fmt == "docx":
        try:
            text, paragraphs = docx_text(data, label, limits or ArchiveLimits.from_env())
        except ArchiveTooLarge as exc:
            raise refuse(InputTooLarge, str(exc).removeprefix(f"{label} ")) from None
        except (ArchiveError, DocxProblem) as exc:
            raise refuse(UnreadableInput, str(exc).removeprefix(f"{label}: ")) from None
        if not text.strip():
            raise refuse(EmptyInput, "the Word document has no text")
        return [_document(base_id, text, {**metadata, "source_format": "docx", "paragraphs": paragraphs})]
    if fmt == "zip":
        raise refuse(UnsupportedFormat, "a ZIP archive that is not a Word .docx: unpack it, or save as .docx")
    if fmt == "ole":
        raise refuse(UnsupportedFormat, "a legacy Office file (.doc/.xls): save it as .docx or .csv")
    try:
        decoded = decode_text(data)
    except NotText as exc:
        raise refuse(UnsupportedFormat, str(exc)) from None
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise refuse(EmptyInput, f"the file holds only whitespace ({decoded.encoding})")
    metadata |= {"source_format": fmt, "encoding": decoded.encoding, "encoding_confidence": decoded.confidence}
    if fmt != "csv":
        return [_document(base_id, text, metadata)]
    try:
        rows, blank, _ = read_table(text, text_column)
    except TableProblem as exc:
        raise refuse(EmptyInput if exc.empty else UnreadableInput, str(exc)) from None
    return [Document(id=f"{base_id}-{row.row}", text=row.text,
                     metadata={**metadata, "row": row.row, "line": row.line, "columns": row.columns,
                               "blank_rows_skipped": blank})
            for row in rows]


def _format(data: bytes, filename: str, text_column: str | None) -> str:
    """What the bytes are: the magic numbers first, then the name's suffix."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx" if filename.lower().endswith(".docx") or b"word/document.xml" in data[:65536] else "zip"
    if data.startswith(_OLE):
        return "ole"
    fmt = SUFFIX_FORMATS.get(Path(filename).suffix.lower(), "text")
    return "csv" if text_column is not None and fmt == "text" and not filename else fmt


def _document(doc_id: str, text: str, metadata: dict[str, Any]) -> Document:
    layout = transcript_layout(text)
    if layout is not None:
        metadata["transcript"] = layout
    return Document(id=doc_id, text=text, metadata=metadata)
