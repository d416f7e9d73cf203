"""speaker_stats across a corpus: `qualia batch` (a real subprocess) writes the per-meeting and the corpus
tables and the overview section, `qualia export` carries them in CSV, XLSX and Parquet; figures worked by
hand in speaker_stats_expected.py."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from qualia.kernel.corpus import COLUMNS, DocumentRecord, SpeakerNames, rows
from tests.kernel.corpus.speaker_stats_expected import ACROSS, ALIASES, BY_MEETING, MEETINGS, PARTLY, PIPELINE, typed
from tests.kernel.corpus.support import run_qualia


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("talk")
    shutil.copytree(MEETINGS, tmp_path / "data")
    (tmp_path / "pipeline.toml").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "aliases.toml").write_text(ALIASES, encoding="utf-8")
    done = run_qualia(tmp_path, "batch", "data", "-f", "pipeline.toml", "-o", "out", "--aliases", "aliases.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path, tmp_path / "out"


def read_table(path: Path, table: str) -> list[tuple]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS[table]
        return [typed(row, COLUMNS[table]) for row in reader]


def test_the_batch_writes_speaker_stats_per_meeting_and_across_the_corpus(batch_out) -> None:
    _, out = batch_out
    across = read_table(out / "corpus" / "speaker_stats.csv", "speaker_stats")
    assert across == [ACROSS["Ana Souza"], ACROSS["Bruno Reis"], ACROSS["Carla Dias"]]
    by_meeting = read_table(out / "corpus" / "speaker_stats_by_meeting.csv", "speaker_stats_by_meeting")
    assert {(row[0], row[1]): row for row in by_meeting} == BY_MEETING


def test_the_overview_shows_the_speakers_across_the_corpus_and_says_what_was_not_timed(batch_out) -> None:
    _, out = batch_out
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="corpus/speaker_stats.csv">speaker_stats.csv</a>' in page
    section = page[page.index("<h2>Speakers across the corpus</h2>"):page.index("<h2>Failures</h2>")]
    carla = section[section.index("<tr><td>Carla Dias</td>"):]
    carla = carla[:carla.index("</tr>")]
    assert carla == ("<tr><td>Carla Dias</td><td>1</td><td>20.0</td><td>30.8%</td><td>1</td><td>12</td>"
                     "<td>12.0</td><td>0</td><td>12 words, 20 s (m2.vtt)</td><td>1</td><td>0</td><td>1</td>")
    assert "<tr><td>Ana Souza*</td><td>3</td><td>25.0</td><td>38.5%</td>" in section
    assert "9 words (m3.txt)" in section
    assert f"<li>* Bruno Reis: {PARTLY}</li>" in section


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_carries_both_tables_in_every_format(batch_out, fmt: str, tmp_path: Path) -> None:
    folder, out = batch_out
    target = tmp_path / ("corpus.xlsx" if fmt == "xlsx" else fmt)
    done = run_qualia(folder, "export", str(out), "--format", fmt, "-o", str(target))
    assert done.returncode == 0, done.stderr
    if fmt == "csv":
        across = read_table(target / "speaker_stats.csv", "speaker_stats")
        by_meeting = read_table(target / "speaker_stats_by_meeting.csv", "speaker_stats_by_meeting")
    elif fmt == "xlsx":
        book = openpyxl.load_workbook(target, read_only=True)
        sheets = {name: list(book[name].iter_rows(values_only=True)) for name in
                  ("speaker_stats", "speaker_stats_by_meeting")}
        assert sheets["speaker_stats"][0] == COLUMNS["speaker_stats"]
        across = [row[:-1] + (row[-1] or "",) for row in sheets["speaker_stats"][1:]]  # an empty cell is None
        by_meeting = sheets["speaker_stats_by_meeting"][1:]
    else:
        table = pq.read_table(target / "speaker_stats.parquet")
        assert str(table.schema.field("turns").type) == "int64" and str(table.schema.field("talk_time_s").type) == \
            "double"
        across = [tuple(row.values()) for row in table.to_pylist()]
        by_meeting = [tuple(row.values()) for row in pq.read_table(target / "speaker_stats_by_meeting.parquet")
                      .to_pylist()]
    assert across == [ACROSS["Ana Souza"], ACROSS["Bruno Reis"], ACROSS["Carla Dias"]]
    assert {(row[0], row[1]): row for row in by_meeting} == BY_MEETING


def record(key: str, result: dict) -> DocumentRecord:
    return DocumentRecord(key=key, source=None, document_id=key, artefacts={"speaker_stats": "stats"},
                          steps=[{"id": "stats", "plugin": "any_provider", "result": result}])


def test_spellings_of_one_speaker_in_one_meeting_are_merged_and_odd_fields_tolerated() -> None:
    """Any plugin that provides `speaker_stats` fills the tables: fields are read by name, and a missing one
    counts as absent, not as a crash."""
    timed = {"timed": True, "speakers": {
        "Ana": {"turns": 2, "words": 10, "questions": 1, "talk_time_s": 6.0, "overlaps": 1, "overlap_s": 0.5,
                "interruptions_made": 1, "interrupted": 0, "longest_turn": {"words": 6, "seconds": 4.0}},
        "ANA ": {"turns": 1, "words": 5, "questions": 0, "talk_time_s": 9.0, "overlaps": 0, "overlap_s": 0.0,
                 "interruptions_made": 0, "interrupted": 1, "longest_turn": {"words": 5, "seconds": 9.0}},
        "Rui": {"turns": 1, "words": 3, "talk_time_s": 5.0}}}
    assert list(rows("speaker_stats_by_meeting", [record("a", timed)], SpeakerNames())) == [
        ("a", "Ana", True, 15.0, 0.75, 3, 15, 5.0, 1, 9.0, 5, 1, 0.5, 1, 1),
        ("a", "Rui", True, 5.0, 0.25, 1, 3, 3.0, 0, None, 0, None, None, None, None)]
    assert list(rows("speaker_stats", [record("a", timed), record("b", {"speakers": "not a table"})])) == [
        ("Ana", 1, 1, 15.0, 0.75, 3, 15, 5.0, 1, 9.0, 5, "a", 1, 0.5, 1, 1, ""),
        ("Rui", 1, 1, 5.0, 0.25, 1, 3, 3.0, 0, None, 0, "a", None, None, None, None, "")]
