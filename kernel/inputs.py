"""What a user names on the command line (paths, `-` for stdin) as labelled Documents.

The reading itself is `kernel.readers`; this module reads every source
before anything runs, so one bad file among many is reported with the others
(each by name, with its reason) instead of after minutes of work, and labels
each document for the output (`file.csv#3` for row 3 of a CSV).
"""
from __future__ import annotations

from qualia.plugin_sdk.archives import ArchiveLimits
from qualia.plugin_sdk.document import Document, Segment

from .errors import UnreadableInput
from .readers import read_source

__all__ = ["combine_rows", "load_document", "read_inputs"]


def read_inputs(sources: list[str], *, text_column: str | None = None,
                limits: ArchiveLimits | None = None) -> list[tuple[str, Document]]:
    """(label, document) for every document of every source; UnreadableInput naming every bad one."""
    documents: list[tuple[str, Document]] = []
    problems: list[UnreadableInput] = []
    for source in sources:
        try:
            found = read_source(source, text_column=text_column, limits=limits)
        except UnreadableInput as exc:
            problems.append(exc)
            continue
        for document in found:
            row = document.metadata.get("row")
            documents.append((f"{source}#{row}" if row is not None else source, document))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = "\n".join(f"  {problem.message}" for problem in problems)
        raise UnreadableInput(f"{len(problems)} of {len(sources)} inputs cannot be read:\n{lines}",
                              files=[problem.details.get("file") for problem in problems],
                              reasons=[problem.details.get("reason") for problem in problems])
    return documents


def combine_rows(documents: list[Document]) -> Document:
    """The rows of a CSV as one Document, one segment per row (so one figure shows every answer)."""
    if len(documents) == 1 and "row" not in documents[0].metadata:
        return documents[0]
    first = documents[0]
    metadata = {key: value for key, value in first.metadata.items() if key not in ("row", "line", "columns")}
    metadata["rows"] = len(documents)
    return Document(id=first.id.rsplit("-", 1)[0], text="\n".join(doc.text for doc in documents),
                    language=first.language, metadata=metadata,
                    segments=[Segment(text=doc.text) for doc in documents])


def load_document(source: str) -> Document:
    """The one Document of a source (a CSV's rows combined); for scripts and tests."""
    return combine_rows(read_source(source))
