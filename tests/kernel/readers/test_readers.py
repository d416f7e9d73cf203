"""kernel.readers: every file becomes Documents with what was detected in metadata, or an error naming it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from qualia.kernel.errors import (EmptyInput, InputTooLarge, NoTextLayer, UnreadableInput, UnsupportedFormat)
from qualia.kernel.readers import read_bytes, read_documents, text_document, transcript_layout
from qualia.plugin_sdk.archives import ArchiveLimits
from tests.conftest import EXAMPLES

from .samples import (CP1252_EXTRA, INTERVIEW_PT, PDF_TEXT, docx_bytes, pdf_bytes, words, write_folder, zip_bomb)


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    return write_folder(tmp_path / "inputs")


@pytest.mark.parametrize("role, encodings, expected", [
    ("latin1", {"cp1252", "latin_1"}, INTERVIEW_PT),
    ("cp1252", {"cp1252"}, INTERVIEW_PT + CP1252_EXTRA),
    ("utf16", {"utf-16"}, INTERVIEW_PT),
])
def test_legacy_and_utf16_portuguese_decode_exactly(folder, role, encodings, expected):
    [document] = read_documents(folder[role])
    assert document.text == expected
    assert len(words(document.text)) == len(words(expected))
    assert {"Não", "fácil", "três", "ótima", "ação"} <= set(words(document.text))
    assert document.metadata["encoding"] in encodings
    assert 0.5 <= document.metadata["encoding_confidence"] <= 1.0
    assert document.metadata["filename"] == folder[role].name and document.id == folder[role].stem


def test_cp1252_punctuation_is_not_read_as_central_european(folder):
    [document] = read_documents(folder["cp1252"])
    assert "“excelente”" in document.text and "30 €" in document.text and "ă" not in document.text


def test_utf8_is_certain_and_crlf_becomes_lf():
    [document] = read_bytes("Olá\r\nação\r\n".encode("utf-8"), "a.txt")
    assert document.text == "Olá\nação\n"
    assert document.metadata["encoding"] == "utf-8" and document.metadata["encoding_confidence"] == 1.0


def test_a_pdf_gives_its_text_layer(folder):
    [document] = read_documents(folder["pdf"])
    assert document.text.split() == PDF_TEXT.split()
    assert document.metadata["source_format"] == "pdf" and document.metadata["pages"] == 1


def test_a_docx_gives_its_paragraphs_and_a_transcript_layout_is_recorded(folder):
    [document] = read_documents(folder["docx"])
    assert document.text == INTERVIEW_PT.rstrip("\n")
    assert document.metadata["source_format"] == "docx" and document.metadata["paragraphs"] == 4
    assert document.metadata["transcript"] == "name_colon"


def test_a_csv_gives_one_document_per_answered_row(folder):
    rows = read_documents(folder["csv"], text_column="answer")
    assert [row.id for row in rows] == ["pesquisa-1", "pesquisa-3"]
    assert rows[0].text == "O atendimento foi ótimo e rápido."
    assert rows[1].metadata["columns"] == {"respondent": "r3", "age": "28"}
    assert rows[1].metadata["row"] == 3 and rows[1].metadata["line"] == 4
    assert rows[0].metadata["blank_rows_skipped"] == 1 and rows[0].metadata["encoding"] == "cp1252"


def test_a_csv_without_a_usable_column_names_the_columns(folder):
    with pytest.raises(UnreadableInput) as missing:
        read_documents(folder["csv"])
    assert "--text-column" in missing.value.message and "'answer'" in missing.value.message
    with pytest.raises(UnreadableInput) as wrong:
        read_documents(folder["csv"], text_column="resposta")
    assert "no column 'resposta'" in wrong.value.message and wrong.value.details["file"] == str(folder["csv"])


@pytest.mark.parametrize("role, error, status, reason", [
    ("binary", UnsupportedFormat, 415, "binary"),
    ("empty", EmptyInput, 422, "empty"),
    ("scan", NoTextLayer, 422, "no text layer"),
])
def test_unusable_files_are_refused_by_name(folder, role, error, status, reason):
    with pytest.raises(error) as caught:
        read_documents(folder[role])
    assert caught.value.status == status and caught.value.exit_code == 2
    assert caught.value.message.startswith(f"{folder[role]}: ") and reason in caught.value.message
    assert caught.value.details["file"] == str(folder[role]) and caught.value.details["reason"]


@pytest.mark.parametrize("data, name, reason", [
    (b"   \n\t\n", "blank.txt", "only whitespace"),
    (b"%PDF-1.4 this is not really a pdf", "broken.pdf", "not a readable PDF"),
    (b"plain words", "fake.pdf", "no %PDF- header"),
    (b"PK\x03\x04 truncated zip", "broken.docx", "not a readable ZIP"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.doc", "legacy Office"),
    (b"\xff\xfeO\x00l\x00\xd8", "odd.txt", "UTF-16"),
    (bytes(range(32)) * 40, "control.txt", "binary"),
])
def test_broken_inputs_name_the_reason(data, name, reason):
    with pytest.raises(UnreadableInput) as caught:
        read_bytes(data, name)
    assert caught.value.message.startswith(f"{name}: ") and reason in caught.value.message


def test_missing_unreadable_and_looping_paths(tmp_path):
    with pytest.raises(UnreadableInput, match="No such file"):
        read_documents(tmp_path / "nope.txt")
    with pytest.raises(UnreadableInput, match="is a folder"):
        read_documents(tmp_path)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(UnreadableInput, match="symbolic links"):
        read_documents(loop)
    if os.geteuid() != 0:  # root reads a chmod 000 file anyway
        locked = tmp_path / "locked.txt"
        locked.write_text("segredo")
        locked.chmod(0)
        with pytest.raises(UnreadableInput, match="Permission denied"):
            read_documents(locked)


def test_a_docx_zip_bomb_is_refused_before_parsing():
    bomb = zip_bomb(8 * 1024 * 1024)
    assert len(bomb) < 64 * 1024  # about 1000:1
    limits = ArchiveLimits(max_unpacked_bytes=4 * 1024 * 1024, max_ratio=1e9)
    with pytest.raises(InputTooLarge) as by_size:
        read_bytes(bomb, "bomba.docx", limits=limits)
    assert by_size.value.status == 413 and "QUALIA_MAX_UNPACKED_BYTES" in by_size.value.message
    with pytest.raises(InputTooLarge) as by_ratio:
        read_bytes(bomb, "bomba.docx", limits=ArchiveLimits(max_unpacked_bytes=1 << 30, max_ratio=100))
    assert "word/document.xml" in by_ratio.value.message and "100:1" in by_ratio.value.message
    [document] = read_bytes(bomb, "bomba.docx", limits=ArchiveLimits(max_unpacked_bytes=1 << 30, max_ratio=1e9))
    assert document.text == "capa"  # within generous limits it is just a document


def test_plain_docx_of_an_interview_is_text():
    [document] = read_bytes(docx_bytes(["Primeira resposta.", "Segunda resposta."]), "e.docx")
    assert document.text == "Primeira resposta.\nSegunda resposta." and "transcript" not in document.metadata


@pytest.mark.parametrize("name, layout", [
    ("teams_pt.vtt", "webvtt"), ("zoom_en.vtt", "webvtt"), ("interview_en.srt", "srt"),
    ("chat_plain_pt.txt", "bracket_time"), ("teams_docx_export_pt.txt", "teams_docx"),
    ("survey_answers_en.txt", None),
])
def test_transcript_layouts_are_recognised_and_prose_is_not(name, layout):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert transcript_layout(text) == layout
    assert text_document(text).metadata.get("transcript") == layout


def test_prose_with_a_clock_or_a_colon_is_not_a_transcript():
    assert transcript_layout("A reunião começa às 14:00.\nNota: tragam o relatório.\nObrigado.") is None
