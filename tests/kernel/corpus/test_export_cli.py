"""`qualia export` through the real console script: tidy CSV/XLSX/Parquet tables and a valid REFI-QDA project."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pyarrow.parquet as pq
import pytest
import xmlschema

from tests.kernel.corpus.support import QUALIA, copy_examples, qualia_env, run_qualia, write_pipeline

SCHEMA = Path(__file__).resolve().parents[2] / "data" / "refi-qda-project-1.0.xsd"
NS = "{urn:QDA-XML:project:1.0}"


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("export")
    data = copy_examples(tmp_path / "data", "teams_pt.vtt", "zoom_en.vtt", "survey_answers_en.txt")
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(write_pipeline(tmp_path)), "-o", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path, tmp_path / "out"


def read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def segments_of(out: Path, key: str) -> list[dict]:
    result = json.loads((out / "docs" / key / "result.json").read_text(encoding="utf-8"))
    return result["run"]["steps"][0]["document"]["segments"]


def test_csv_tables_are_tidy_one_row_per_observation(batch_out):
    tmp_path, out = batch_out
    done = run_qualia(tmp_path, "export", str(out), "--format", "csv")
    assert done.returncode == 0, done.stderr
    folder = out / "export" / "csv"
    segments = read_csv(folder / "segments.csv")
    assert list(segments[0]) == ["document", "segment", "speaker", "start", "end", "text", "language", "polarity",
                                 "label"]
    teams = [row for row in segments if row["document"] == "teams_pt.vtt"]
    assert len(teams) == len(segments_of(out, "teams_pt.vtt"))
    assert {row["language"] for row in teams} == {"pt"}
    assert all(row["label"] in ("positive", "neutral", "negative") for row in teams)
    assert all(float(row["end"]) >= float(row["start"]) for row in teams)
    terms = read_csv(folder / "terms.csv")
    assert list(terms[0]) == ["document", "speaker", "term", "count", "relative"]
    keys = [(row["document"], row["speaker"], row["term"]) for row in terms]
    assert len(keys) == len(set(keys))  # one row per term x document x speaker
    assert all(0 < float(row["relative"]) <= 1 for row in terms)
    documents = {row["document"]: row for row in read_csv(folder / "documents.csv")}
    assert set(documents) == {"teams_pt.vtt", "zoom_en.vtt", "survey_answers_en.txt"}
    assert float(documents["teams_pt.vtt"]["talk_time_s"]) > 0
    assert int(documents["zoom_en.vtt"]["speakers"]) >= 2


def test_csv_with_bom_opens_in_excel(batch_out, tmp_path):
    _, out = batch_out
    done = run_qualia(tmp_path, "export", str(out), "--format", "csv", "--bom", "-o", str(tmp_path / "bom"))
    assert done.returncode == 0, done.stderr
    raw = (tmp_path / "bom" / "segments.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfdocument,")
    assert "reunião" in raw.decode("utf-8-sig").lower() or "ção" in raw.decode("utf-8-sig")


def test_xlsx_has_one_sheet_per_table_with_the_same_rows_as_csv(batch_out, tmp_path):
    tmp, out = batch_out
    target = tmp_path / "corpus.xlsx"
    done = run_qualia(tmp, "export", str(out), "--format", "xlsx", "-o", str(target))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(target, read_only=True)
    assert book.sheetnames == ["segments", "terms", "documents", "speakers", "speaker_stats_by_meeting",
                               "speaker_stats"]
    rows = list(book["terms"].iter_rows(values_only=True))
    assert rows[0] == ("document", "speaker", "term", "count", "relative")
    run_qualia(tmp, "export", str(out), "--format", "csv", "-o", str(tmp_path / "csv"))
    assert len(rows) - 1 == len(read_csv(tmp_path / "csv" / "terms.csv"))
    assert isinstance(rows[1][3], int)


def test_parquet_tables_keep_their_types(batch_out, tmp_path):
    tmp, out = batch_out
    done = run_qualia(tmp, "export", str(out), "--format", "parquet", "-o", str(tmp_path / "pq"))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(tmp_path / "pq" / "segments.parquet")
    assert table.column_names[:3] == ["document", "segment", "speaker"]
    assert str(table.schema.field("polarity").type) == "double"
    documents = pq.read_table(tmp_path / "pq" / "documents.parquet").to_pylist()
    assert {row["document"] for row in documents} == {"teams_pt.vtt", "zoom_en.vtt", "survey_answers_en.txt"}


def test_parquet_without_pyarrow_says_which_extra_to_install(batch_out, tmp_path):
    tmp, out = batch_out
    blocker = tmp_path / "blocker"
    (blocker / "pyarrow").mkdir(parents=True)
    (blocker / "pyarrow" / "__init__.py").write_text("raise ImportError('pyarrow is not installed')\n")
    env = {**qualia_env(tmp), "PYTHONPATH": str(blocker)}
    done = subprocess.run([QUALIA, "export", str(out), "--format", "parquet", "-o", str(tmp_path / "pq")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "pip install 'qualia-core[parquet]'" in done.stderr
    assert not os.path.exists(tmp_path / "pq" / "segments.parquet")


def test_qdpx_is_a_valid_refi_qda_project_with_sources_cases_selections_and_codebook(batch_out, tmp_path):
    tmp, out = batch_out
    target = tmp_path / "corpus.qdpx"
    done = run_qualia(tmp, "export", str(out), "--format", "qdpx", "-o", str(target))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(target) as archive:
        qde = archive.read("project.qde").decode("utf-8")
        texts = {name: archive.read(name).decode("utf-8") for name in archive.namelist()
                 if name.startswith("Sources/")}
    schema = xmlschema.XMLSchema(str(SCHEMA))
    schema.validate(qde)
    project = schema.to_dict(qde)
    root = ElementTree.fromstring(qde)
    sources = root.findall(f"{NS}Sources/{NS}TextSource")
    assert {source.get("name") for source in sources} == {"teams_pt.vtt", "zoom_en.vtt", "survey_answers_en.txt"}
    assert len(texts) == 3
    codes = {code.get("guid"): code.get("name") for code in root.iter(f"{NS}Code")}
    speakers = {case.get("name") for case in root.findall(f"{NS}Cases/{NS}Case")}
    teams_speakers = {segment["speaker"] for segment in segments_of(out, "teams_pt.vtt")}
    assert teams_speakers <= speakers and teams_speakers <= set(codes.values())
    assert {"positive", "neutral", "negative", "Speakers", "Sentiment"} <= set(codes.values())
    teams = next(source for source in sources if source.get("name") == "teams_pt.vtt")
    text = texts[f"Sources/{teams.get('guid')}.txt"]
    selections = teams.findall(f"{NS}PlainTextSelection")
    assert len(selections) == len(segments_of(out, "teams_pt.vtt"))
    for selection, segment in zip(selections, segments_of(out, "teams_pt.vtt")):
        start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
        assert text[start:end] == segment["text"].replace("\n", " ")
        coded = {codes[ref.get("targetGUID")] for ref in selection.iter(f"{NS}CodeRef")}
        assert segment["speaker"] in coded and coded & {"positive", "neutral", "negative"}
    assert project["@name"] == "corpus-test"


def test_export_of_a_folder_that_is_not_a_batch_is_a_usage_error(tmp_path):
    (tmp_path / "nothing").mkdir()
    done = run_qualia(tmp_path, "export", str(tmp_path / "nothing"), "--format", "csv")
    assert done.returncode == 2 and "qualia batch" in done.stderr
    bad = run_qualia(tmp_path, "export", str(tmp_path / "nothing"), "--format", "pdf")
    assert bad.returncode == 2
