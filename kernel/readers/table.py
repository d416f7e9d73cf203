"""Survey answers in a CSV: one Document per row, the answer from `text_column`, the rest as metadata.

The delimiter is sniffed (`,` `;` tab `|`: spreadsheets in Portuguese locales
write `;`); the first row is the header. Rows whose answer is blank are
skipped (their count is reported in each document's metadata); a file with
no answer at all is empty input.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

__all__ = ["TableProblem", "TableRow", "read_table"]

_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024


class TableProblem(ValueError):
    def __init__(self, message: str, *, empty: bool = False) -> None:
        super().__init__(message)
        self.empty = empty


@dataclass
class TableRow:
    row: int  # 1-based data row (the header is row 0)
    line: int  # 1-based line of the file where the row starts
    text: str
    columns: dict[str, str] = field(default_factory=dict)


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_BYTES], delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel  # one column, or too little to tell: commas


def read_table(text: str, text_column: str | None) -> tuple[list[TableRow], int, list[str]]:
    """The rows with an answer, how many were skipped as blank, and the header."""
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise TableProblem("the CSV has no header row", empty=True) from None
    except csv.Error as exc:
        raise TableProblem(f"line 1: {exc}") from None
    if text_column is None:
        if len(header) != 1:
            raise TableProblem(f"which column holds the text? give --text-column (the form field / JSON field "
                               f"`text_column` over HTTP); the columns are {header}")
        text_column = header[0]
    if text_column not in header:
        raise TableProblem(f"no column {text_column!r}; the columns are {header}")
    index = header.index(text_column)
    rows: list[TableRow] = []
    blank = 0
    try:
        line = reader.line_num + 1
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                line = reader.line_num + 1
                continue  # an empty line between rows
            answer = cells[index].strip() if index < len(cells) else ""
            if answer:
                others = {name or f"column_{i + 1}": cells[i] if i < len(cells) else ""
                          for i, name in enumerate(header) if i != index}
                rows.append(TableRow(row=number, line=line, text=answer, columns=others))
            else:
                blank += 1
            line = reader.line_num + 1
    except csv.Error as exc:
        raise TableProblem(f"line {reader.line_num}: {exc}") from None
    if not rows:
        raise TableProblem(f"no row has text in column {text_column!r}", empty=True)
    return rows, blank, header
