"""Helpers for the corpus tests: the real `qualia` console script, small pipelines, corpora, index reading."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from tests.conftest import EXAMPLES, PROJECT

QUALIA = str(Path(sys.executable).parent / "qualia")
MAKE_CORPUS = PROJECT / "scripts" / "make_corpus.py"

# clean -> count -> score, and one cheap figure so the overview has something to link
PIPELINE = """\
name = "corpus-test"
[[steps]]
plugin = "teams_cleaner"
config = { remove_fillers = true }
[[steps]]
plugin = "word_frequency"
config = { top_n = 30 }
[[steps]]
plugin = "sentiment_analyzer"
"""
FIGURE_STEP = """
[[steps]]
plugin = "frequency_chart"
config = { format = "html" }
"""


def write_pipeline(folder: Path, *, figure: bool = False, extra: str = "") -> Path:
    path = folder / "pipeline.toml"
    path.write_text(PIPELINE + (FIGURE_STEP if figure else "") + extra, encoding="utf-8")
    return path


def qualia_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_PLUGIN_PATH": ""}


def run_qualia(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([QUALIA, *args], capture_output=True, text=True, env=qualia_env(tmp_path),
                          cwd=tmp_path, timeout=timeout)


def make_corpus(folder: Path, docs: int, *, kb: int = 2, seed: int = 7) -> Path:
    subprocess.run([sys.executable, str(MAKE_CORPUS), str(folder), "--docs", str(docs), "--kb", str(kb),
                    "--seed", str(seed)], check=True, timeout=60)
    return folder


def copy_examples(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or ("teams_pt.vtt", "teams_en.vtt", "zoom_en.vtt"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    return folder


def index_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "index.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def current(out: Path) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for entry in index_lines(out):
        if entry.get("removed"):
            latest.pop(entry["key"], None)
        else:
            latest[entry["key"]] = entry
    return latest


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Lines:
    """Collects a process's stdout lines on a thread, so the test can wait for one."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> None:
        self._thread.join(timeout=10)

    def finish(self, process: subprocess.Popen) -> str:
        """Kill `process` if it still runs, collect the last lines, close its pipes; returns its stderr."""
        if process.poll() is None:
            process.kill()
        self.join()
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
        return stderr

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)
