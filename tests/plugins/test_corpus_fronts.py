"""The corpus-linguistics plugins through every front door: the `qualia` CLI (real subprocesses), the REST
service (a real server on 127.0.0.1) and the example pipeline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernel.server.conftest import error_of, json_of, serve  # noqa: F401  (serve is a fixture)

PROJECT = Path(__file__).resolve().parents[2]
QUALIA = Path(sys.executable).parent / "qualia"
TEAMS_PT = "examples/transcripts/teams_pt.vtt"
CHAT_PT = "examples/transcripts/chat_plain_pt.txt"
PIPELINE = "examples/pipelines/corpus_linguistics.toml"
VTT = (PROJECT / TEAMS_PT).read_text(encoding="utf-8")


def qualia(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    env["QUALIA_HOME"] = str(home)
    return subprocess.run([str(QUALIA), *args], cwd=PROJECT, env=env, input=stdin, capture_output=True, text=True,
                          encoding="utf-8", timeout=60)


def test_cli_concordance_json_and_table(tmp_path: Path) -> None:
    done = qualia("analyze", CHAT_PT, "-p", "concordance", "-P", "word=preço", "-P", "right=2", "--json",
                  home=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["hits"] == 2 and [line["right"] for line in result["lines"]] == ["do plano", "é justo"]
    table = qualia("analyze", CHAT_PT, "-p", "concordance", "-P", "word=o suporte", home=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "hits: 2" in table.stdout and "left" in table.stdout and "node" in table.stdout
    assert "o suporte" in table.stdout


def test_cli_keyness_against_a_reference_text_and_lemmas(tmp_path: Path) -> None:
    done = qualia("analyze", "-", "-p", "keyness", "-P", "reference_text=cão cão cão gato", "-P", "min_frequency=1",
                  "-P", "correction=none", "-P", "alpha=0.5", "--json", home=tmp_path, stdin="gato gato gato cão")
    assert done.returncode == 0, done.stderr
    [comparison] = json.loads(done.stdout)["comparisons"]
    assert comparison["positive"][0]["term"] == "gato"
    assert comparison["positive"][0]["log_likelihood"] == pytest.approx(1.046496, abs=1e-4)  # see test_keyness
    lemmas = qualia("analyze", "-", "-p", "word_frequency", "-P", "lemmas=true", "-P", "language=pt", "--json",
                    home=tmp_path, stdin="Eu gostei, ele gostou, nós gostamos.")
    assert lemmas.returncode == 0, lemmas.stderr
    assert json.loads(lemmas.stdout)["frequencies"][0] == {"term": "gostar", "count": 3, "relative": 1.0}


def test_cli_bad_parameters_name_the_key(tmp_path: Path) -> None:
    done = qualia("analyze", CHAT_PT, "-p", "collocations", "-P", "sort_by=magic", home=tmp_path)
    assert done.returncode == 2 and "sort_by" in done.stderr and done.stdout == ""
    missing = qualia("analyze", CHAT_PT, "-p", "concordance", home=tmp_path)
    assert missing.returncode == 2 and "`word`" in missing.stderr and "Traceback" not in missing.stderr


def test_example_pipeline_runs_every_new_plugin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = qualia("pipeline", TEAMS_PT, "-f", PIPELINE, "-o", str(out), "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    [run] = json.loads(done.stdout)
    steps = {step["id"]: step for step in run["steps"]}
    assert list(steps) == ["teams_cleaner", "speaker_stats", "speaker_stats_chart", "keyness", "keyness_chart",
                           "concordance", "kwic_view", "collocations", "readability"]
    assert steps["speaker_stats"]["result"]["meeting"]["speakers"] == 4
    assert steps["concordance"]["result"]["hits"] == 4  # "pagamento" in the Portuguese sample
    assert steps["collocations"]["result"]["node_frequency"] == 4
    assert steps["readability"]["result"]["language"] == "pt"
    assert {c["target"] for c in steps["keyness"]["result"]["comparisons"]} == {
        "Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves"}
    figures = {name: out / "teams_pt" / name for name in ("speaker_stats_chart.svg", "keyness_chart.html",
                                                          "kwic_view.html")}
    assert all(path.stat().st_size > 500 for path in figures.values())
    kwic = figures["kwic_view.html"].read_text(encoding="utf-8")
    assert "Concordância de “pagamento” — teams_pt.vtt" in kwic
    assert "Participação no tempo de fala" in figures["speaker_stats_chart.svg"].read_text(encoding="utf-8")


async def test_api_analyze_each_new_analyzer(serve) -> None:  # noqa: F811
    served = await serve(bundled=True)
    calls = {
        "concordance": {"text": VTT, "clean": True, "config": {"word": "tutorial", "sort": "left"}},
        "collocations": {"text": VTT, "clean": True, "config": {"word": "pagamento", "min_frequency": 1}},
        "keyness": {"text": VTT, "clean": True, "config": {"lemmas": True, "min_frequency": 1}},
        "speaker_stats": {"text": VTT, "clean": True},
        "readability": {"text": VTT, "clean": True},
    }
    results = {}
    for plugin, body in calls.items():
        async with served.session.post(f"/analyze/{plugin}", json=body) as r:
            answer = await json_of(r)
        assert r.status == 200, answer
        results[plugin] = answer["result"]
    assert results["concordance"]["hits"] == 3 and set(results["concordance"]["speakers"]) == {
        "Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves"}
    assert results["concordance"]["speakers"]["Carlos Lima"]["hits"] == 0
    assert results["collocations"]["node_frequency"] == 4
    assert len(results["keyness"]["comparisons"]) == 4
    assert results["speaker_stats"]["timed"] is True
    assert set(results["readability"]["speakers"]) == set(results["speaker_stats"]["speakers"])


async def test_api_keyness_against_corpus_frequencies_and_bad_ones(serve) -> None:  # noqa: F811
    served = await serve(bundled=True)
    text = " ".join(["café"] * 10 + ["água"] * 990)
    body = {"text": text, "config": {"reference_frequencies": {"total": 3000, "frequencies": {"café": 5}},
                                     "min_frequency": 1}}
    async with served.session.post("/analyze/keyness", json=body) as r:
        [comparison] = (await json_of(r))["result"]["comparisons"]
    cafe = next(row for row in comparison["positive"] if row["term"] == "café")
    assert cafe["log_likelihood"] == pytest.approx(11.50728, abs=1e-4)  # worked in test_keyness
    bad = {"text": text, "config": {"reference_frequencies": {"frequencies": {"café": "five"}}}}
    async with served.session.post("/analyze/keyness", json=bad) as r:
        error = await error_of(r, 422)
    assert "reference_frequencies" in error["message"]
    async with served.session.post("/analyze/keyness", json={"text": text, "config": {"correction": "magic"}}) as r:
        error = await error_of(r, 422)
    assert "correction" in error["message"]


async def test_api_figures_of_the_new_visualizers(serve) -> None:  # noqa: F811
    served = await serve(bundled=True)
    body = {"text": VTT, "clean": True, "format": "html", "configs": {"concordance": {"word": "pagamento"}}}
    async with served.session.post("/visualize/kwic_view", json=body) as r:
        page = await r.text()
    assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Concordância de “pagamento”" in page and page.count('<tr data-order="') == 4
    async with served.session.post("/visualize/speaker_stats_chart",
                                   json={"text": VTT, "clean": True, "format": "svg"}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
        assert "Participação no tempo de fala" in await r.text()
    async with served.session.post("/visualize/keyness_chart", json={
            "text": VTT, "clean": True, "format": "png",
            "configs": {"keyness": {"min_frequency": 1, "correction": "none", "alpha": 0.5}}}) as r:
        assert r.status == 200 and (await r.read()).startswith(b"\x89PNG")


def test_reference_frequencies_script_feeds_keyness(tmp_path: Path) -> None:
    """The document-against-the-rest-of-the-corpus path: count the corpus once, send the counts as config."""
    from qualia.plugin_sdk import Document
    from qualia.plugin_sdk.testing import PluginHarness
    from qualia.plugin_sdk.text import tokenize
    from qualia.plugins.keyness import Keyness
    from qualia.plugins.teams_cleaner import TeamsCleaner

    corpus = ["examples/transcripts/teams_en.vtt", "examples/transcripts/zoom_en.vtt"]
    out = tmp_path / "reference.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    done = subprocess.run([sys.executable, "scripts/reference_frequencies.py", *corpus, "-o", str(out)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    reference = json.loads(out.read_text(encoding="utf-8"))
    cleaner = PluginHarness(TeamsCleaner)
    words = [w for path in corpus
             for segment in cleaner.run(Document(text=(PROJECT / path).read_text(encoding="utf-8"))).segments
             for w in tokenize(segment.text)]
    assert reference["total"] == len(words) and sum(reference["frequencies"].values()) == len(words)
    assert reference["frequencies"]["tutorial"] == words.count("tutorial")
    assert reference["source"]["cleaned"] == 2  # both are transcripts: parsed first, as every analysis does
    raw = subprocess.run([sys.executable, "scripts/reference_frequencies.py", *corpus, "--raw"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout)["total"] > len(words)  # speaker names and "WEBVTT" counted too
    target = Document(text=(PROJECT / "examples/transcripts/survey_answers_en.txt").read_text(encoding="utf-8"))
    [comparison] = PluginHarness(Keyness).run(target, {"reference_frequencies": reference, "min_frequency": 1,
                                                       "correction": "none"})["comparisons"]
    assert comparison["reference"] == "reference corpus" and comparison["reference_tokens"] == len(words)
    missing = subprocess.run([sys.executable, "scripts/reference_frequencies.py", "no/such/file.txt"], cwd=PROJECT,
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no/such/file.txt" in missing.stderr
