"""`qualia process | visualize | pipeline | cache` through the real console script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, PROJECT

QUALIA = str(Path(sys.executable).parent / "qualia")
PIPELINE = PROJECT / "examples" / "pipelines" / "transcript.toml"


@pytest.fixture
def qualia(tmp_path):
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_PLUGIN_PATH": ""}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([QUALIA, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              input=stdin, timeout=120)
    return run


def test_process_prints_the_cleaned_document(qualia):
    done = qualia("process", str(EXAMPLES / "teams_docx_export_pt.txt"), "-p", "teams_cleaner",
                  "-P", "remove_fillers=true")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert {s["speaker"] for s in document["segments"]} == {"Ana Souza", "Carlos Lima", "Beatriz Rocha"}
    assert document["segments"][0]["text"] == "Boa tarde, gente. A pauta de hoje é o relatório trimestral."
    assert "relatório" in done.stdout  # UTF-8 on stdout, not \u escapes


def test_visualize_resolves_dependencies_and_writes_the_figure(qualia, tmp_path):
    out = tmp_path / "cloud.svg"
    done = qualia("visualize", str(EXAMPLES / "teams_pt.vtt"), "-p", "wordcloud_viz", "--format", "svg",
                  "--clean", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "teams_cleaner -> word_frequency -> wordcloud_viz" in done.stderr
    assert out.read_text(encoding="utf-8").lstrip().startswith(("<svg", "<?xml"))


def test_pipeline_over_several_files_writes_figures_and_results(qualia, tmp_path):
    files = [str(EXAMPLES / name) for name in ("teams_pt.vtt", "teams_en.vtt", "zoom_en.vtt")]
    done = qualia("pipeline", *files, "-f", str(PIPELINE), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert [run["document_id"] for run in results] == ["teams_pt", "teams_en", "zoom_en"]
    for name in ("teams_pt", "teams_en", "zoom_en"):
        assert (tmp_path / "out" / name / "wordcloud_viz.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "out" / name / "frequency_chart.html").is_file()
        assert (tmp_path / "out" / name / "sentiment_viz.svg").is_file()

    again = qualia("pipeline", files[0], "-f", str(PIPELINE), "-o", str(tmp_path / "out2"), "--json")
    assert again.returncode == 0
    assert all(step["cached"] for step in json.loads(again.stdout)[0]["steps"])


def test_invalid_pipeline_is_a_usage_error_naming_the_step(qualia, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[steps]]\nplugin = "wordcloud_viz"\n')
    done = qualia("pipeline", str(EXAMPLES / "teams_pt.vtt"), "-f", str(bad))
    assert done.returncode == 2
    assert "step 1 (wordcloud_viz)" in done.stderr and "word_frequencies" in done.stderr


def test_cache_stats_and_clear(qualia):
    assert qualia("analyze", str(EXAMPLES / "zoom_en.vtt"), "-p", "word_frequency").returncode == 0
    stats = json.loads(qualia("cache", "stats", "--json").stdout)
    assert stats["entries"] == 2 and stats["bytes"] > 0  # the transcript was cleaned first: two results
    cleared = qualia("cache", "clear")
    assert cleared.returncode == 0 and "removed 2" in cleared.stdout
    assert json.loads(qualia("cache", "stats", "--json").stdout)["entries"] == 0
    assert qualia("analyze", str(EXAMPLES / "zoom_en.vtt"), "-p", "word_frequency", "--no-cache").returncode == 0
    assert json.loads(qualia("cache", "stats", "--json").stdout)["entries"] == 0
