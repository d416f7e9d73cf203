"""`qualia create plugin`: what it generates passes `plugins check`, its own tests, and runs in a pipeline.

Everything runs as a new author would: the installed `qualia` console script, the
generated tests with `pytest` (Python, using the SDK's pytest fixtures) or
`node --test` (Node.js, the machine's node, no npm install), then a pipeline file
through the CLI with the plugin found through QUALIA_PLUGIN_PATH.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qualia.kernel.scaffold import render

PROJECT = Path(__file__).resolve().parents[2]
QUALIA = str(Path(sys.executable).parent / "qualia")
NODE = shutil.which("node")


def run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120,
        expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if expect is not None:
        assert done.returncode == expect, f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUALIA_", "PYTEST_"))}
    return {**clean, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_PLUGIN_PATH": str(tmp_path / "work")}


PIPELINES = {
    "analyzer": "[[steps]]\nplugin = 'teams_cleaner'\n[[steps]]\nplugin = '{id} >=0.1'\n",
    "document": "[[steps]]\nplugin = 'teams_cleaner'\n[[steps]]\nplugin = '{id}'\n",
    "visualizer": "[[steps]]\nplugin = 'word_frequency'\n[[steps]]\nplugin = '{id}'\nconfig = {{ format = 'svg' }}\n",
}


@pytest.mark.parametrize("kind", ["analyzer", "document", "visualizer"])
@pytest.mark.parametrize("lang", ["python", pytest.param("node", marks=pytest.mark.skipif(
    NODE is None, reason="Node.js (Debian's nodejs) is not installed"))])
def test_created_plugin_checks_passes_its_tests_and_runs_in_a_pipeline(lang: str, kind: str, tmp_path: Path,
                                                                       env: dict[str, str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    plugin_id = f"my_{lang}_{kind}"
    made = run([QUALIA, "create", "plugin", plugin_id, "--kind", kind, "--lang", lang], cwd=work, env=env)
    folder = work / plugin_id
    assert f"created {kind} plugin '{plugin_id}'" in made.stdout
    assert (folder / "plugin.toml").is_file() and (folder / "README.md").is_file()
    assert "{{" not in "".join(path.read_text() for path in folder.rglob("*") if path.is_file())

    check = run([QUALIA, "plugins", "check", str(folder)], cwd=work, env=env)
    assert f"{plugin_id}: conforms to qualia/1" in check.stdout, check.stdout
    assert "FAIL" not in check.stdout and "WARN" not in check.stdout

    if lang == "python":
        tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder, env=env)
        assert " passed" in tests.stdout and "failed" not in tests.stdout
    else:
        tests = run([NODE, "--test"], cwd=folder, env=env)  # type: ignore[list-item]
        assert "# fail 0" in tests.stdout and "# pass " in tests.stdout

    shutil.copy(PROJECT / "examples" / "transcripts" / "teams_en.vtt", work)
    (work / "pipeline.toml").write_text(PIPELINES[kind].format(id=plugin_id), encoding="utf-8")
    done = run([QUALIA, "pipeline", "teams_en.vtt", "-f", "pipeline.toml", "-o", "out", "--json"], cwd=work, env=env)
    [step_run] = json.loads(done.stdout)
    step = step_run["steps"][-1]
    assert step["plugin"] == plugin_id
    if kind == "analyzer":
        assert step["result"]["words"] > 10 and len(step["result"]["speakers"]) >= 2
    elif kind == "document":
        assert step["document"]["metadata"][plugin_id] == {"emails_masked": 0}
    else:
        svg = (work / "out" / "teams_en" / f"{plugin_id}.svg").read_bytes()
        assert svg.startswith(b"<svg") and svg.count(b"<rect") >= 3


def test_a_broken_created_plugin_fails_its_check_with_an_actionable_report(tmp_path: Path,
                                                                           env: dict[str, str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run([QUALIA, "create", "plugin", "chatty", "--kind", "analyzer"], cwd=work, env=env)
    code = work / "chatty" / "plugin.py"
    # A print to the real stdout (os.write on fd 1 before serve() takes it over) breaks the protocol.
    code.write_text("import os\nos.write(1, b'loading model...\\n')\n" + code.read_text(), encoding="utf-8")
    check = run([QUALIA, "plugins", "check", "chatty"], cwd=work, env=env, expect=1)
    assert "FAIL  protocol: wrote a line on stdout that is not a JSON-RPC message: b'loading model...\\n'" \
        in check.stdout
    assert "hint: stdout carries only JSON-RPC" in check.stdout
    assert "chatty: 1 check(s) failed" in check.stdout


def test_create_refuses_a_bad_id_and_an_existing_folder(tmp_path: Path, env: dict[str, str]) -> None:
    bad = run([QUALIA, "create", "plugin", "My-Plugin", "--kind", "analyzer"], cwd=tmp_path, env=env, expect=2)
    assert "plugin id 'My-Plugin' must match" in bad.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    taken = run([QUALIA, "create", "plugin", "taken", "--kind", "analyzer"], cwd=tmp_path, env=env, expect=2)
    assert "already exists" in taken.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_render_refuses_an_unknown_placeholder() -> None:
    assert render("id = {{id}} {python}", {"id": "x"}) == "id = x {python}"
    with pytest.raises(ValueError, match="nope"):
        render("{{nope}}", {})


def test_a_bundled_png_visualizer_conforms(tmp_path: Path) -> None:
    """The PNG signature is compared byte for byte (a lowercased copy never matched `\\x89PNG`)."""
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home")}
    check = run([QUALIA, "plugins", "check", "wordcloud_viz"], cwd=tmp_path, env=env)
    assert "OK    run sample-pt (png): visualizer result" in check.stdout, check.stdout
    assert "wordcloud_viz: conforms to qualia/1" in check.stdout and "FAIL" not in check.stdout, check.stdout
