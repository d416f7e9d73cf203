"""`qualia init` and `qualia config`, and commands picking up a project, as real CLI subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUALIA = Path(sys.executable).parent / "qualia"
EXAMPLES = PROJECT_ROOT / "examples" / "transcripts"


def qualia(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    clean.update({"QUALIA_HOME": str(home), **(env or {})})
    return subprocess.run([str(QUALIA), *args], cwd=cwd, env=clean, capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, stdin=subprocess.DEVNULL)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done


def refused(done: subprocess.CompletedProcess[str], *named: str) -> str:
    """Exit 2, a message naming each of `named`, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for word in named:
        assert word in done.stderr, f"{word!r} not in {done.stderr!r}"
    return done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def study(tmp_path: Path, home: Path) -> Path:
    """A project made by `qualia init --language pt`, with two transcripts in data/."""
    ok(qualia("init", "study", "--language", "pt", cwd=tmp_path, home=home))
    root = (tmp_path / "study").resolve()
    shutil.copy(EXAMPLES / "teams_pt.vtt", root / "data")
    shutil.copy(EXAMPLES / "chat_plain_pt.txt", root / "data")
    return root


def edit(root: Path, old: str, new: str) -> None:
    path = root / "qualia.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(root: Path, needle: str) -> int:
    lines = (root / "qualia.toml").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


# ---- init ------------------------------------------------------------------------------------------

def test_init_makes_the_folders_and_says_what_next(tmp_path: Path, home: Path) -> None:
    done = ok(qualia("init", "study", cwd=tmp_path, home=home))
    root = tmp_path / "study"
    assert sorted(p.name for p in root.iterdir()) == ["data", "out", "pipelines", "qualia.toml"]
    assert (root / "pipelines" / "transcript.toml").is_file()
    assert f"Qualia project in {root.resolve()}" in done.stdout and "qualia menu" in done.stdout


def test_init_in_the_current_folder_and_refusal_without_force(tmp_path: Path, home: Path) -> None:
    ok(qualia("init", cwd=tmp_path, home=home))
    before = (tmp_path / "qualia.toml").read_text(encoding="utf-8")
    refused(qualia("init", "--language", "en", cwd=tmp_path, home=home), "already holds a Qualia project", "--force")
    assert (tmp_path / "qualia.toml").read_text(encoding="utf-8") == before
    (tmp_path / "data" / "mine.txt").write_text("keep me", encoding="utf-8")
    done = ok(qualia("init", "--language", "en", "--force", cwd=tmp_path, home=home))
    assert "rewrote qualia.toml, pipelines/transcript.toml" in done.stdout
    assert 'language = "en"' in (tmp_path / "qualia.toml").read_text(encoding="utf-8")
    assert (tmp_path / "data" / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_a_broken_project_stops_commands_but_not_init_force(study: Path, home: Path) -> None:
    edit(study, 'output = "out"', 'outptu = "out"')
    line = line_of(study, "outptu")
    refused(qualia("plugins", cwd=study / "data", home=home),
            f"{study / 'qualia.toml'}:{line}: unknown key 'project.outptu'; did you mean 'project.output'?")
    ok(qualia("version", cwd=study, home=home))
    ok(qualia("init", "--force", cwd=study, home=home))
    ok(qualia("config", "check", cwd=study, home=home))


# ---- commands pick the project up ------------------------------------------------------------------

def test_pipeline_inside_the_project_uses_its_pipeline_and_output(study: Path, home: Path) -> None:
    done = ok(qualia("pipeline", "teams_pt.vtt", cwd=study / "data", home=home))
    assert f"results of every step: {study / 'out' / 'results.json'}" in done.stderr
    runs = json.loads((study / "out" / "results.json").read_text(encoding="utf-8"))
    steps = {step["plugin"]: step for step in runs[0]["steps"]}
    assert list(steps) == ["teams_cleaner", "word_frequency", "wordcloud_viz", "frequency_chart",
                           "sentiment_analyzer", "sentiment_viz"]
    assert steps["word_frequency"]["result"]["language"] == "pt"
    assert (study / "out" / "teams_pt" / "wordcloud_viz.png").stat().st_size > 0


def test_pipeline_outside_a_project_needs_f(tmp_path: Path, home: Path) -> None:
    shutil.copy(EXAMPLES / "teams_en.vtt", tmp_path)
    refused(qualia("pipeline", "teams_en.vtt", cwd=tmp_path, home=home), "no pipeline given", "-f PIPELINE",
            "qualia init")


def test_plugin_settings_and_stopwords_reach_the_plugin_and_flags_win(study: Path, home: Path) -> None:
    edit(study, "stopwords = []", 'stopwords = ["pagamento"]')
    edit(study, "[plugins]\n", "[plugins.word_frequency]\ntop_n = 3\n")
    counted = json.loads(ok(qualia("analyze", "data/teams_pt.vtt", "-p", "word_frequency", "--json",
                                   cwd=study, home=home)).stdout)
    terms = [row["term"] for row in counted["frequencies"]]
    assert len(terms) == 3 and "pagamento" not in terms and counted["language"] == "pt"
    flagged = json.loads(ok(qualia("analyze", "data/teams_pt.vtt", "-p", "word_frequency", "-P", "top_n=5",
                                   "--json", cwd=study, home=home)).stdout)
    assert len(flagged["frequencies"]) == 5
    english = json.loads(ok(qualia("analyze", "data/teams_pt.vtt", "-p", "word_frequency", "--json", cwd=study,
                                   home=home, env={"QUALIA_LANGUAGE": "en"})).stdout)
    assert english["language"] == "en"


def test_a_bad_plugin_setting_names_where_it_was_set(study: Path, home: Path) -> None:
    edit(study, "[plugins]\n", "[plugins.word_frequency]\ntop_n = 0\n")
    refused(qualia("analyze", "data/teams_pt.vtt", "-p", "word_frequency", cwd=study, home=home),
            "'top_n': must be >= 1", f"(set in {study / 'qualia.toml'}:{line_of(study, 'top_n = 0')})")


# ---- config show -----------------------------------------------------------------------------------

def test_config_show_says_where_each_value_came_from(study: Path, home: Path) -> None:
    edit(study, "[plugins]\n", "[plugins.word_frequency]\ntop_n = 3\n")
    done = ok(qualia("--breaker-open-s", "7", "config", "show", "--json", cwd=study / "data", home=home,
                     env={"QUALIA_BREAKER_FAILURES": "4"}))
    shown = json.loads(done.stdout)
    assert shown["project"] == str(study)
    rows = shown["settings"]
    toml = study / "qualia.toml"
    language_at = f"{toml}:{line_of(study, 'language =')}"
    assert rows["project.language"] == {"value": "pt", "source": "file", "where": language_at, "from": language_at,
                                        "env": "QUALIA_LANGUAGE", "flag": None}
    assert rows["kernel.breaker_failures"]["value"] == 4
    assert rows["kernel.breaker_failures"]["from"] == "env QUALIA_BREAKER_FAILURES"
    assert rows["kernel.breaker_open_s"]["value"] == 7.0
    assert rows["kernel.breaker_open_s"]["from"] == "flag --breaker-open-s"
    assert rows["kernel.home"]["value"] == str(home) and rows["kernel.home"]["source"] == "env"
    assert rows["kernel.queue_limit"] == {"value": 64, "source": "default", "where": "", "from": "default",
                                          "env": "QUALIA_QUEUE_LIMIT", "flag": None}
    assert rows["project.pipeline"]["value"] == str(study / "pipelines" / "transcript.toml")
    assert rows["plugins.word_frequency.top_n"]["value"] == 3
    assert rows["plugins.word_frequency.top_n"]["where"] == f"{toml}:{line_of(study, 'top_n = 3')}"


def test_config_shows_a_table_by_default(study: Path, home: Path) -> None:
    done = ok(qualia("config", cwd=study, home=home, env={"QUALIA_LANGUAGE": "en"}))
    assert done.stdout.startswith(f"project: {study / 'qualia.toml'}")
    language = next(line for line in done.stdout.splitlines() if line.startswith("project.language"))
    assert language.split() == ["project.language", "en", "env", "QUALIA_LANGUAGE"]


def test_config_without_a_project_says_so(tmp_path: Path, home: Path) -> None:
    done = ok(qualia("config", "show", cwd=tmp_path, home=home))
    assert done.stdout.startswith("project: none") and "qualia init" in done.stdout


# ---- config check ----------------------------------------------------------------------------------

def test_config_check_passes_a_fresh_project(study: Path, home: Path) -> None:
    done = ok(qualia("config", "check", cwd=study, home=home))
    assert "pipeline:" in done.stdout and "6 steps" in done.stdout and done.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize(("old", "new", "needle", "said"), [
    ('language = "pt"', 'language = "fr"', 'language = "fr"', "project.language: must be one of auto, pt, en"),
    ("[kernel]\n", "[kernel]\nbreaker_failurs = 3\n", "breaker_failurs",
     "unknown key 'kernel.breaker_failurs'; did you mean 'kernel.breaker_failures'?"),
    ("[plugins]\n", "[plugins.word_frequency]\ntop_nn = 3\n", "top_nn",
     "plugins.word_frequency.top_nn: unknown parameter of 'word_frequency'; did you mean 'top_n'?"),
    ("[plugins]\n", "[plugins.wordcloud]\nwidth = 3\n", "[plugins.wordcloud]",
     "[plugins.wordcloud]: no plugin 'wordcloud'; did you mean 'wordcloud_viz'?"),
    ("[plugins]\n", "[plugins.sentiment_analyzer]\nwindow = -1\n", "window",
     "plugins.sentiment_analyzer.window: must be >= 1, got -1"),
    ('pipeline = "pipelines/transcript.toml"', 'pipeline = "pipelines/missing.toml"', "missing.toml",
     "pipeline: cannot read pipeline"),
])
def test_config_check_names_the_bad_key_and_its_line(study: Path, home: Path, old: str, new: str, needle: str,
                                                     said: str) -> None:
    edit(study, old, new)
    refused(qualia("config", "check", cwd=study, home=home), f"{study / 'qualia.toml'}:{line_of(study, needle)}: ",
            said)


def test_config_check_names_a_bad_step_of_the_pipeline(study: Path, home: Path) -> None:
    pipeline = study / "pipelines" / "transcript.toml"
    pipeline.write_text(pipeline.read_text(encoding="utf-8").replace("top_n = 40", "top_n = -4"), encoding="utf-8")
    refused(qualia("config", "check", cwd=study, home=home), "step 2 (word_frequency)", "'top_n': must be >= 1")


def test_config_check_names_a_bad_variable(study: Path, home: Path) -> None:
    refused(qualia("config", "check", cwd=study, home=home, env={"QUALIA_BREAKER_FAILURES": "zero"}),
            "QUALIA_BREAKER_FAILURES='zero'")


def test_batch_and_export_inside_the_project_use_its_pipeline_output_and_aliases(study: Path, home: Path) -> None:
    (study / "pipelines" / "count.toml").write_text('name = "count"\n[[steps]]\nplugin = "word_frequency"\n',
                                                    encoding="utf-8")
    edit(study, 'pipeline = "pipelines/transcript.toml"', 'pipeline = "pipelines/count.toml"')
    edit(study, "[aliases]\n", '[aliases]\n"Carlos Lima" = "Carlos"\n')
    ok(qualia("batch", ".", cwd=study / "data", home=home))
    out = study / "out"
    assert sorted(p.name for p in (out / "docs").iterdir()) == ["chat_plain_pt.txt", "teams_pt.vtt"]
    assert sorted(p.name for p in (out / "docs" / "teams_pt.vtt").iterdir()) == ["result.json"]  # count only
    done = ok(qualia("export", "--format", "csv", cwd=study / "data", home=home))
    speakers = (out / "export" / "csv" / "speakers.csv").read_text(encoding="utf-8")
    assert str(out / "export" / "csv" / "speakers.csv") in done.stdout
    assert "teams_pt.vtt,Carlos," in speakers and "Carlos Lima" not in speakers
