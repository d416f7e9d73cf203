"""PDF text through pypdf: one page after another, or NoTextLayer for a scan."""
from __future__ import annotations

import io
import logging

__all__ = ["PdfProblem", "pdf_text"]

# pypdf logs recoverable oddities of real-world files at WARNING; they are not ours to report.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfProblem(ValueError):
    """The PDF cannot be read (`scanned` False) or has no text layer (`scanned` True)."""

    def __init__(self, message: str, *, scanned: bool = False) -> None:
        super().__init__(message)
        self.scanned = scanned


def pdf_text(data: bytes) -> tuple[str, int]:
    """The text of every page, pages separated by a blank line, and the page count."""
    from pypdf import PdfReader  # imported on first use: most runs read no PDF
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "protected" PDFs open with the empty user password
            except Exception as exc:  # pypdf raises several types (and needs `cryptography` for AES)
                raise PdfProblem(f"the PDF is encrypted and cannot be opened without a password ({exc})") from None
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfProblem:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise PdfProblem(f"not a readable PDF: {type(exc).__name__}: {exc}") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise PdfProblem(f"the PDF has {len(pages)} page(s) but no text layer (a scan?): run OCR on it first",
                         scanned=True)
    return text, len(pages)
