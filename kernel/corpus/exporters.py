"""Tidy tables to files: CSV (one per table), XLSX (one sheet per table), Parquet (one per table), and
REFI-QDA (`qdpx.py`).

Every writer takes the rows as they are generated, one document at a time,
in one pass over the corpus: XLSX through xlsxwriter's `constant_memory`
mode (each row goes to disk when the next begins), Parquet in row groups.
Parquet needs pyarrow, the optional extra `parquet`.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ExportFailed, MissingExtra, UsageError
from .speakers import SpeakerNames, load_aliases
from .store import CorpusStore, DocumentRecord
from .tables import COLUMNS, CORPUS_TABLES, TABLES, Row, SpeakerStatsTotals, rows

__all__ = ["FORMATS", "default_target", "export_corpus", "export_records",
           "export_tables", "table_rows"]

FORMATS = ("csv", "xlsx", "parquet", "qdpx")
XLSX_MAX_ROWS = 1_048_576
PARQUET_BATCH = 10_000


def default_target(out: Path, fmt: str) -> Path:
    """Where `qualia export OUT --format FMT` writes without -o: OUT/export/ (a folder for csv and parquet)."""
    folder = out / "export"
    return folder / {"xlsx": "corpus.xlsx", "qdpx": "corpus.qdpx"}.get(fmt, fmt)


def export_corpus(out: Path, fmt: str, target: Path | None = None, *, aliases: Path | None = None,
                  bom: bool = False) -> list[Path]:
    """Export a batch's output folder; speakers named with `aliases`, else the aliases the batch used."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    store = CorpusStore(Path(out))
    manifest = store.manifest()
    names = SpeakerNames(load_aliases(aliases) if aliases else manifest.aliases)
    target = target or default_target(Path(out), fmt)
    project = str(manifest.pipeline.get("name") or Path(out).name)
    return export_records(fmt, store.documents(), target, names=names, project=project, bom=bom)


def export_records(fmt: str, records: Iterable[DocumentRecord], target: Path, *, names: SpeakerNames,
                   project: str = "qualia", bom: bool = False) -> list[Path]:
    """Any format, from any source of records (a batch folder, a job's outputs)."""
    if fmt == "qdpx":
        from .qdpx import export_qdpx

        return [export_qdpx(records, target, names=names, project=project)]
    return export_tables(fmt, records, target, names=names, bom=bom)


def table_rows(records: Iterable[DocumentRecord], names: SpeakerNames) -> Iterator[tuple[str, Row]]:
    """(table, row) for every table, one document at a time; the corpus tables after the last document."""
    speaker_stats = SpeakerStatsTotals()
    for record in records:
        for table in TABLES:
            if table in CORPUS_TABLES:
                continue
            for row in rows(table, (record,), names):
                if table == "speaker_stats_by_meeting":
                    speaker_stats.add((row,))
                yield table, row
    for row in speaker_stats.rows():
        yield "speaker_stats", row


def export_tables(fmt: str, records: Iterable[DocumentRecord], target: Path, *, names: SpeakerNames,
                  bom: bool = False) -> list[Path]:
    """Write the tables in `fmt` to `target` (a folder for csv/parquet, a file for xlsx); the files written."""
    if fmt == "csv":
        return _csv(records, target, names, bom)
    if fmt == "xlsx":
        return _xlsx(records, target, names)
    if fmt == "parquet":
        return _parquet(records, target, names)
    raise UsageError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _csv(records: Iterable[DocumentRecord], folder: Path, names: SpeakerNames, bom: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {table: folder / f"{table}.csv" for table in TABLES}
    handles = {table: open(_temporary(path), "w", encoding="utf-8-sig" if bom else "utf-8", newline="")
               for table, path in paths.items()}
    try:
        writers = {table: csv.writer(handle) for table, handle in handles.items()}
        for table, writer in writers.items():
            writer.writerow(COLUMNS[table])
        for table, row in table_rows(records, names):
            writers[table].writerow(["" if value is None else value for value in row])
    finally:
        for handle in handles.values():
            handle.close()
    for path in paths.values():
        os.replace(_temporary(path), path)
    return list(paths.values())


def _xlsx(records: Iterable[DocumentRecord], path: Path, names: SpeakerNames) -> list[Path]:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    book = xlsxwriter.Workbook(str(temporary), {"constant_memory": True, "strings_to_numbers": False,
                                                "strings_to_formulas": False, "strings_to_urls": False})
    try:
        bold = book.add_format({"bold": True})
        sheets = {table: book.add_worksheet(table) for table in TABLES}
        next_row = dict.fromkeys(TABLES, 1)
        for table, sheet in sheets.items():
            sheet.write_row(0, 0, COLUMNS[table], bold)
            sheet.freeze_panes(1, 0)
        for table, row in table_rows(records, names):
            number = next_row[table]
            if number >= XLSX_MAX_ROWS:
                raise ExportFailed(f"the {table} table has more rows than an Excel sheet holds ({XLSX_MAX_ROWS}); "
                                  f"export csv or parquet instead", table=table)
            sheets[table].write_row(number, 0, [_cell(value) for value in row])
            next_row[table] = number + 1
    finally:
        book.close()
    os.replace(temporary, path)
    return [path]


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _parquet(records: Iterable[DocumentRecord], folder: Path, names: SpeakerNames) -> list[Path]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("Parquet export needs pyarrow: pip install 'qualia-core[parquet]'",
                           extra="parquet") from None
    types = _arrow_types(pa)
    schemas = {table: pa.schema([(column, types.get(column, pa.string())) for column in COLUMNS[table]])
               for table in TABLES}
    folder.mkdir(parents=True, exist_ok=True)
    paths = {table: folder / f"{table}.parquet" for table in TABLES}
    writers = {table: pq.ParquetWriter(str(_temporary(path)), schemas[table]) for table, path in paths.items()}
    pending: dict[str, list[Row]] = {table: [] for table in TABLES}

    def flush(table: str) -> None:
        if pending[table]:
            columns = list(zip(*pending[table]))
            writers[table].write_table(pa.Table.from_arrays(
                [pa.array(values, type=schemas[table].field(i).type) for i, values in enumerate(columns)],
                schema=schemas[table]))
            pending[table].clear()

    try:
        for table, row in table_rows(records, names):
            pending[table].append(row)
            if len(pending[table]) >= PARQUET_BATCH:
                flush(table)
        for table in TABLES:
            flush(table)
    finally:
        for writer in writers.values():
            writer.close()
    for path in paths.values():
        os.replace(_temporary(path), path)
    return list(paths.values())


def _arrow_types(pa: Any) -> dict[str, Any]:
    integers = ("segment", "count", "words", "speakers", "segments", "meetings", "timed_meetings", "turns",
                "questions", "longest_monologue_words", "overlaps", "interruptions_made", "interrupted")
    floats = ("start", "end", "polarity", "relative", "talk_time_s", "share_of_talk", "words_per_turn",
              "longest_monologue_s", "overlap_s")
    return {**dict.fromkeys(integers, pa.int64()), **dict.fromkeys(floats, pa.float64()), "timed": pa.bool_()}



def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
