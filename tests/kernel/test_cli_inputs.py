"""Every kind of file through the real `qualia` command: analysed correctly, or refused by name with a reason.

Also: transcripts are cleaned by default (`--raw` opts out), and `visualize`
takes its format from the suffix of `-o` and refuses a contradicting `--format`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.kernel.readers.samples import write_folder

QUALIA = str(Path(sys.executable).parent / "qualia")


@pytest.fixture
def qualia(tmp_path):
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_PLUGIN_PATH": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([QUALIA, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    return run


def terms(result: dict) -> list[str]:
    return [row["term"] for row in result["frequencies"]]


def refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and "Traceback" not in done.stderr
    for text in named:
        assert text in done.stderr, (text, done.stderr)


def test_a_folder_of_every_kind(qualia, tmp_path):
    files = write_folder(tmp_path / "inputs")
    good = ["latin1", "cp1252", "utf16", "docx", "pdf"]
    done = qualia("analyze", *(str(files[role]) for role in good), "-p", "word_frequency", "--json")
    assert done.returncode == 0, done.stderr
    results = {Path(item["file"]).name: item["result"] for item in json.loads(done.stdout)}
    by_role = {role: results[files[role].name] for role in good}
    # one interview in three encodings and a .docx: the same words, counted the same way
    assert by_role["latin1"] == by_role["utf16"] == by_role["docx"]
    assert {"atendente", "ligação", "fácil", "ótima", "qualidade"} <= set(terms(by_role["latin1"]))
    assert set(by_role["latin1"]["speakers"]) == {"Entrevistadora", "Participante"}  # cleaned: speakers, not words
    assert "entrevistadora" not in terms(by_role["latin1"])
    assert {"excelente", "reclamações"} <= set(terms(by_role["cp1252"]))
    assert {"relatório", "satisfação", "reclamações"} <= set(terms(by_role["pdf"]))

    rows = qualia("analyze", str(files["csv"]), "-p", "word_frequency", "--json", "--text-column", "answer")
    assert rows.returncode == 0, rows.stderr
    answered = json.loads(rows.stdout)
    assert [Path(item["file"]).name for item in answered] == ["pesquisa.csv#1", "pesquisa.csv#3"]
    assert "atendimento" in terms(answered[0]["result"]) and "qualidade" in terms(answered[1]["result"])
    refused(qualia("analyze", str(files["csv"]), "-p", "word_frequency"), "pesquisa.csv", "--text-column", "answer")

    for role, reason in (("binary", "binary data"), ("empty", "the file is empty"), ("scan", "no text layer")):
        refused(qualia("analyze", str(files[role]), "-p", "word_frequency"), f"{files[role]}: ", reason)
    # several bad files among good ones: nothing runs, every bad one is named with its reason
    mixed = qualia("analyze", str(files["latin1"]), str(files["binary"]), str(files["empty"]), "-p", "word_frequency")
    refused(mixed, "2 of 3 inputs cannot be read", f"{files['binary']}: ", f"{files['empty']}: the file is empty")
    if os.geteuid() != 0:  # root reads a chmod 000 file anyway
        locked = tmp_path / "inputs" / "trancado.txt"
        locked.write_text("segredo", encoding="utf-8")
        locked.chmod(0)
        refused(qualia("analyze", str(locked), "-p", "word_frequency"), str(locked), "Permission denied")


def test_transcripts_are_cleaned_unless_raw(qualia):
    vtt = str(EXAMPLES / "teams_pt.vtt")
    cleaned = json.loads(qualia("analyze", vtt, "-p", "word_frequency", "-P", "top_n=300", "--json").stdout)
    raw = json.loads(qualia("analyze", vtt, "-p", "word_frequency", "-P", "top_n=300", "--json", "--raw").stdout)
    assert {"webvtt", "souza", "hum"} <= set(terms(raw))  # header, speaker names and fillers counted as words
    assert not {"webvtt", "souza", "hum"} & set(terms(cleaned))
    assert set(cleaned["speakers"]) == {"Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves"}
    refused(qualia("analyze", vtt, "-p", "word_frequency", "--raw", "--clean"), "not allowed with argument")


def test_visualize_takes_the_format_from_the_suffix_and_refuses_a_contradiction(qualia, tmp_path):
    vtt = str(EXAMPLES / "teams_en.vtt")
    refused(qualia("visualize", vtt, "-p", "wordcloud_viz", "--format", "png", "-o", str(tmp_path / "x.svg")),
            "--format png", "x.svg", "(svg)")
    assert not (tmp_path / "x.svg").exists()
    done = qualia("visualize", vtt, "-p", "wordcloud_viz", "-o", str(tmp_path / "cloud.svg"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cloud.svg").read_text(encoding="utf-8").lstrip().startswith(("<svg", "<?xml"))
    assert "teams_cleaner -> word_frequency -> wordcloud_viz" in done.stderr  # the transcript was cleaned
    done = qualia("visualize", vtt, "-p", "wordcloud_viz", "--format", "png", "-o", str(tmp_path / "cloud.PNG"))
    assert done.returncode == 0 and (tmp_path / "cloud.PNG").read_bytes().startswith(b"\x89PNG")
