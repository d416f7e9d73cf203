"""`qualia menu`, driven like a researcher would: the real command in a pseudo-terminal, key by key.

pexpect gives the command a terminal; each test waits for a question to appear on
the screen, then types what a person would (a shortcut letter, a path, Enter).
PROMPT_TOOLKIT_NO_CPR=1 spares the terminal the cursor-position query pexpect does not answer.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from qualia.kernel.corpus import TABLES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUALIA = BIN / "qualia"
EXAMPLES = PROJECT_ROOT / "examples" / "transcripts"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ENTER, DOWN, SPACE = "\r", "\x1b[B", " "


class Terminal:
    """One `qualia menu` in a pseudo-terminal; waits on what the screen shows, never on time."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.screen = io.StringIO()
        self.child = pexpect.spawn(str(QUALIA), ["menu"], cwd=str(cwd), env=env, encoding="utf-8",
                                   timeout=30, dimensions=(50, 220))
        self.child.logfile_read = self.screen

    def text(self) -> str:
        return ANSI.sub("", self.screen.getvalue()).replace("\r", "")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pytest.fail(f"never saw {pattern!r}; the screen ended with:\n{self.text()[-3000:]}")
        return self.child.match

    def answer(self, question: str, *keys: str) -> None:
        self.wait_for(question)
        for key in keys:
            self.child.send(key)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF, timeout=30)
        self.child.close()
        return self.child.exitstatus


def menu_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.pathsep.join([str(BIN), "/usr/bin", "/bin"]), "HOME": str(tmp_path / "user"),
           "QUALIA_HOME": str(tmp_path / "qualia-home"), "TERM": "xterm", "LANG": "C.UTF-8",
           "PROMPT_TOOLKIT_NO_CPR": "1"}
    return {**env, **extra}


@pytest.fixture
def study(tmp_path: Path) -> Path:
    done = subprocess.run([str(QUALIA), "init", "study"], cwd=tmp_path, env=menu_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return (tmp_path / "study").resolve()


def test_a_researcher_runs_the_example_folder_then_exports_csv(tmp_path: Path, study: Path) -> None:
    term = Terminal(study, menu_env(tmp_path))
    term.wait_for(f"project {re.escape(str(study))}")
    term.answer("What would you like to do", "a", ENTER)
    term.answer("What would you like to analyse", "f", ENTER)  # a folder
    term.answer("Folder:", str(EXAMPLES), ENTER)
    term.answer("Which pipeline", ENTER)  # the first: the project's default
    term.wait_for("Steps: teams_cleaner → word_frequency")
    term.answer("Output folder:", ENTER)  # the project's out/
    done = term.wait_for(r"Done: (\d+) of (\d+) files", timeout=120)
    examples = sorted(path.name for path in EXAMPLES.iterdir())
    assert done.group(1) == done.group(2) == str(len(examples))
    term.answer("What would you like to do", "e", ENTER)
    term.answer("Export as", "c", ENTER)  # CSV
    term.wait_for(rf"Exported csv: {len(TABLES)} file\(s\)")  # one per table
    term.answer("What would you like to do", "q", ENTER)
    assert term.finish() == 0

    screen = term.text()
    for name in examples:  # one line per document as it finished
        assert f"ok {name}" in screen, screen[-3000:]
    out = study / "out"
    for name in examples:
        figures = sorted(p.name for p in (out / "docs" / name).iterdir())
        assert figures == ["frequency_chart.html", "result.json", "sentiment_viz.svg", "wordcloud_viz.png"], name
    assert (out / "index.html").is_file()
    tables = out / "export" / "csv"
    assert sorted(p.name for p in tables.iterdir()) == sorted(f"{table}.csv" for table in TABLES)
    with (tables / "documents.csv").open(encoding="utf-8", newline="") as handle:
        documents = list(csv.DictReader(handle))
    assert len(documents) == len(examples)


def test_some_files_another_pipeline_another_folder_and_a_rerun_skips(tmp_path: Path, study: Path) -> None:
    pipeline = tmp_path / "count.toml"
    pipeline.write_text('name = "count"\n[[steps]]\nplugin = "word_frequency"\n', encoding="utf-8")
    names = sorted(path.name for path in EXAMPLES.iterdir())
    term = Terminal(study, menu_env(tmp_path))
    for attempt in ("first", "again"):
        term.answer("What would you like to do", "a", ENTER)
        term.answer("What would you like to analyse", "s", ENTER)  # some files from a folder
        term.answer("Folder:", str(EXAMPLES), ENTER)
        # all files start ticked: untick all, then tick the second and the fourth
        term.answer("Files", "a", DOWN, SPACE, DOWN, DOWN, SPACE, ENTER)
        term.answer("Which pipeline", "p", ENTER)
        term.answer("Pipeline file:", str(pipeline), ENTER)
        term.wait_for("Steps: word_frequency")
        term.answer("Output folder:", "\x15", "counts", ENTER)  # Ctrl-U clears the proposed folder
        if attempt == "first":
            term.wait_for(r"Done: 2 of 2 files", timeout=60)
        else:  # same bytes, same pipeline: nothing is redone
            term.wait_for(r"Done: 0 of 0 files in [0-9.]+ s, 2 already done", timeout=60)
    term.answer("What would you like to do", "q", ENTER)
    assert term.finish() == 0

    assert sorted(p.name for p in (study / "counts" / "docs").iterdir()) == [names[1], names[3]]
    assert (study / "counts" / "docs" / names[1] / "result.json").is_file()
    assert not any((study / "out").iterdir())


def test_the_data_folder_first_a_broken_pipeline_explained_a_bad_file_reported(tmp_path: Path,
                                                                               study: Path) -> None:
    shutil.copy(EXAMPLES / "teams_en.vtt", study / "data")
    (study / "data" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    broken = tmp_path / "broken.toml"
    broken.write_text('[[steps]]\nplugin = "no_such_plugin"\n', encoding="utf-8")
    counting = tmp_path / "count.toml"
    counting.write_text('name = "count"\n[[steps]]\nplugin = "word_frequency"\n', encoding="utf-8")
    term = Terminal(study / "data", menu_env(tmp_path))  # started below the project: it is still found
    term.answer("What would you like to do", "a", ENTER)
    term.answer(r"The project's data folder \(.*, 2 files\)", "d", ENTER)
    term.answer("Which pipeline", "p", ENTER)
    term.answer("Pipeline file:", str(broken), ENTER)
    term.wait_for("This pipeline cannot run: step 1 \\(no_such_plugin\\)")
    term.answer("Which pipeline", "p", ENTER)
    term.answer("Pipeline file:", str(counting), ENTER)
    term.answer("Output folder:", ENTER)
    term.wait_for(r"FAILED.*photo\.jpg.*binary")
    term.wait_for(r"Done: 1 of 2 files in [0-9.]+ s, 1 failed", timeout=60)
    term.answer("What would you like to do", "q", ENTER)
    assert term.finish() == 0
    assert (study / "out" / "docs" / "teams_en.vtt" / "result.json").is_file()


def test_open_the_output_folder_hands_it_to_the_desktop(tmp_path: Path, study: Path) -> None:
    """A stand-in xdg-open on PATH records what it was asked to open."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "opened.txt"
    opener = fake_bin / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{record}"\n', encoding="utf-8")
    opener.chmod(0o755)
    env = menu_env(tmp_path, DISPLAY=":99")
    env["PATH"] = os.pathsep.join([str(fake_bin), env["PATH"]])
    term = Terminal(study, env)
    term.answer("What would you like to do", "o", ENTER)
    term.wait_for(f"Output folder: {re.escape(str(study / 'out'))}")
    term.wait_for("opened with")
    term.answer("What would you like to do", "q", ENTER)
    assert term.finish() == 0
    assert record.read_text(encoding="utf-8") == str(study / "out")


def test_without_a_display_the_folder_is_only_printed_and_nothing_to_export_is_said(tmp_path: Path,
                                                                                    study: Path) -> None:
    term = Terminal(study, menu_env(tmp_path))
    term.answer("What would you like to do", "o", ENTER)
    term.wait_for(f"Output folder: {re.escape(str(study / 'out'))}")
    term.answer("What would you like to do", "e", ENTER)
    term.answer("Export as", "x", ENTER)
    term.wait_for("Cannot export: .*not a batch's output folder")
    term.answer("What would you like to do", "q", ENTER)
    assert term.finish() == 0
    assert "opened with" not in term.text()


def test_ctrl_c_at_the_top_quits_cleanly(tmp_path: Path, study: Path) -> None:
    term = Terminal(study, menu_env(tmp_path))
    term.answer("What would you like to do", "\x03")
    assert term.finish() == 0


def test_the_menu_needs_a_terminal(tmp_path: Path, study: Path) -> None:
    done = subprocess.run([str(QUALIA), "menu"], cwd=study, env=menu_env(tmp_path), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "terminal" in done.stderr and "Traceback" not in done.stderr
