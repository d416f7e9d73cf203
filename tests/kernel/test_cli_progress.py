"""Long single-document work shows the plugins' `$/progress` (analyze, visualize, pipeline), on stderr."""
from __future__ import annotations

import json
import re

import pytest

from tests.kernel.corpus.support import run_qualia, write_pipeline

PROGRESS = re.compile(r"^(\w+): (\d+)/(\d+)$", re.MULTILINE)


@pytest.fixture
def long_text(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("".join(f"[00:{m:02d}:{s:02d}] Ana Souza: Frase número {m * 60 + s} foi muito boa.\n"
                            for m in range(10) for s in range(60)), encoding="utf-8")
    return path


def progress_of(stderr: str) -> list[tuple[str, int, int]]:
    return [(step, int(done), int(total)) for step, done, total in PROGRESS.findall(stderr)]


def test_analyze_renders_the_plugins_progress_and_keeps_stdout_the_result(tmp_path, long_text):
    done = run_qualia(tmp_path, "analyze", str(long_text), "-p", "sentiment_analyzer", "--json", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["document"]["label"] == "positive"
    seen = progress_of(done.stderr)
    assert seen and all(step == "sentiment_analyzer" and 0 < n <= total == 600 for step, n, total in seen)


def test_pipeline_and_visualize_render_progress_per_step(tmp_path, long_text):
    done = run_qualia(tmp_path, "pipeline", str(long_text), "-f", str(write_pipeline(tmp_path)), "-o", "out",
                      "--no-cache")
    assert done.returncode == 0, done.stderr
    seen = progress_of(done.stderr)
    assert any(step == "sentiment_analyzer" and total == 600 for step, _, total in seen), seen
    figure = run_qualia(tmp_path, "visualize", str(long_text), "-p", "sentiment_viz", "--format", "svg",
                        "--clean", "-o", "timeline.svg", "--no-cache")
    assert figure.returncode == 0, figure.stderr
    assert any(step == "sentiment_analyzer" for step, _, _ in progress_of(figure.stderr))
