"""What an author sees when something is wrong, through the real `qualia` command.

A plugin folder put on QUALIA_PLUGIN_PATH instead of its parent, an entry point
naming a missing package, an unknown id (with the known ones), `doctor ID`, the
full path in `plugins show`, the plugin's traceback and stderr under `-v`, a
plugin's InputError as exit 2, `-P` errors worded like the validator's, and
versions that do not fit, all before anything runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

QUALIA = str(Path(sys.executable).parent / "qualia")
PROJECT = Path(__file__).resolve().parents[2]


def qualia(*args: str, home: Path, plugin_path: str | None = None, stdin: str = "", extra_env: dict | None = None,
           cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    env["QUALIA_HOME"] = str(home)
    if plugin_path is not None:
        env["QUALIA_PLUGIN_PATH"] = plugin_path
    env.update(extra_env or {})
    return subprocess.run([QUALIA, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def sdk_plugin(root: Path, plugin_id: str, body: str, *, manifest_extra: str = "", version: str = "1.0.0") -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        id = "{plugin_id}"
        name = "{plugin_id}"
        version = "{version}"
        kind = "analyzer"
        command = ["{{python}}", "plugin.py"]
        provides = ["{plugin_id}"]
        """) + manifest_extra, encoding="utf-8")
    (folder / "plugin.py").write_text(
        "import sys\nfrom qualia.plugin_sdk import AnalyzerPlugin, InputError, serve\n\n"
        "class P(AnalyzerPlugin):\n    def analyze(self, document, config, inputs):\n"
        + textwrap.indent(textwrap.dedent(body), "        ") + "\n\nserve(P)\n", encoding="utf-8")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_a_plugin_folder_on_the_path_is_named_with_the_fix(tmp_path: Path, home: Path) -> None:
    folder = sdk_plugin(tmp_path / "mine", "shout", "return {'ok': True}")
    listed = qualia("plugins", home=home, plugin_path=str(folder))
    assert f"broken: {folder}: QUALIA_PLUGIN_PATH entry is itself a plugin folder" in listed.stdout
    assert f"use its parent {tmp_path / 'mine'}" in listed.stdout
    done = qualia("analyze", "-", "-p", "shout", home=home, plugin_path=str(folder), stdin="hi")
    assert done.returncode == 2
    assert "plugin 'shout' cannot be used" in done.stderr and "use its parent" in done.stderr


def test_unknown_plugin_lists_the_known_ids_and_a_close_match(home: Path) -> None:
    done = qualia("analyze", "-", "-p", "word_frequncy", home=home, stdin="hi")
    assert done.returncode == 2
    assert "unknown plugin 'word_frequncy'; did you mean 'word_frequency'?" in done.stderr
    assert "(known: " in done.stderr and "frequency_chart, " in done.stderr and "word_frequency" in done.stderr


def test_an_entry_point_naming_a_missing_package_is_shown(tmp_path: Path, home: Path) -> None:
    site = tmp_path / "site"
    info = site / "ghost_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ghost-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[qualia.plugins]\nghost = qualia_ghost_not_installed\n")
    listed = qualia("plugins", home=home, extra_env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0
    assert ("broken: qualia.plugins:ghost = qualia_ghost_not_installed (ghost-plugin): "
            "qualia_ghost_not_installed: module not found") in listed.stdout
    doctor = qualia("doctor", "--json", home=home, extra_env={"PYTHONPATH": str(site)})
    assert any("ghost" in problem["path"] for problem in json.loads(doctor.stdout)["manifest_problems"])


def test_plugins_show_prints_the_full_path_and_source(tmp_path: Path, home: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "plugins"
    sdk_plugin(deep, "deep", "return {}")
    done = qualia("plugins", "show", "deep", home=home, plugin_path=str(deep))
    assert f"path: {deep / 'deep'}" in done.stdout.splitlines()
    assert "source: QUALIA_PLUGIN_PATH" in done.stdout


def test_verbose_shows_the_plugins_traceback_and_stderr(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "plugins"
    sdk_plugin(root, "boom", """\
        print("loading the lexicon", file=sys.stderr)
        return {"ratio": 1 / len(document.text.split("zzz")[5])}
        """)
    quiet = qualia("analyze", "-", "-p", "boom", home=home, plugin_path=str(root), stdin="text")
    assert quiet.returncode == 1
    assert "IndexError: list index out of range" in quiet.stderr and "Traceback" not in quiet.stderr
    loud = qualia("-v", "analyze", "-", "-p", "boom", home=home, plugin_path=str(root), stdin="text")
    assert loud.returncode == 1
    assert "Traceback (most recent call last):" in loud.stderr
    assert 'plugin.py", line' in loud.stderr and "IndexError: list index out of range" in loud.stderr
    assert "  | loading the lexicon" in loud.stderr


def test_a_plugins_input_error_is_the_callers_fault(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "plugins"
    sdk_plugin(root, "picky", "raise InputError('needs at least two sentences')")
    done = qualia("analyze", "-", "-p", "picky", home=home, plugin_path=str(root), stdin="one.")
    assert done.returncode == 2
    assert "plugin 'picky' rejected the input: needs at least two sentences" in done.stderr


def test_p_errors_read_like_the_validators(tmp_path: Path, home: Path) -> None:
    from_flag = qualia("analyze", "-", "-p", "word_frequency", "-P", "top_n=abc", home=home, stdin="x")
    (tmp_path / "p.toml").write_text("[[steps]]\nplugin = 'word_frequency'\nconfig = { top_n = 'abc' }\n")
    (tmp_path / "x.txt").write_text("x")
    from_file = qualia("pipeline", "x.txt", "-f", "p.toml", home=home, cwd=tmp_path)
    expected = "invalid config for plugin 'word_frequency': config key 'top_n': expected integer, got str 'abc'"
    assert from_flag.returncode == from_file.returncode == 2
    assert from_flag.stderr.strip() == f"qualia: error: {expected}"
    assert from_file.stderr.strip() == f"qualia: error: step 1 (word_frequency): {expected}"


def test_doctor_one_plugin(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "plugins"
    sdk_plugin(root, "fine", "return {}", manifest_extra='kernel = ">=0.1"\n')
    done = qualia("doctor", "fine", home=home, plugin_path=str(root))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "fine 1.0.0 (analyzer)"
    assert f"  path:      {root / 'fine'}" in lines and "  source:    QUALIA_PLUGIN_PATH" in lines
    assert any(line.startswith("  api:       qualia/1; kernel >=0.1 (this is ") for line in lines)
    assert any(line.startswith("OK    started in ") for line in lines)

    (root / "fine" / "plugin.py").write_text("import sys\nprint('no module named lexicon', file=sys.stderr)\n"
                                             "raise SystemExit(4)\n")
    broken = qualia("doctor", "fine", home=home, plugin_path=str(root))
    assert broken.returncode == 1
    assert "FAIL  plugin 'fine' failed to start" in broken.stdout and "| no module named lexicon" in broken.stdout
    unknown = qualia("doctor", "fien", home=home, plugin_path=str(root))
    assert unknown.returncode == 2 and "did you mean 'fine'?" in unknown.stdout


# ---- versions ---------------------------------------------------------------------------------------------------

def test_a_plugin_for_another_kernel_or_contract_is_refused_before_it_runs(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "plugins"
    sdk_plugin(root, "future", "return {}", manifest_extra='kernel = ">=99"\n')
    sdk_plugin(root, "alien", "return {}", manifest_extra='api = "qualia/2"\n')
    listed = qualia("plugins", home=home, plugin_path=str(root))
    assert f"broken: {root / 'future' / 'plugin.toml'}: needs kernel >=99, this is qualia-core " in listed.stdout
    assert "api 'qualia/2' is not supported: this kernel speaks qualia/1" in listed.stdout
    done = qualia("analyze", "-", "-p", "future", home=home, plugin_path=str(root), stdin="x")
    assert done.returncode == 2 and "plugin 'future' cannot be used" in done.stderr and "needs kernel >=99" in done.stderr


@pytest.mark.parametrize(("pin", "error"), [
    ("pinned >=1.2", None),
    ("pinned >=2", "the pipeline needs pinned >=2, but the installed plugin is version 1.5.0"),
    ("pinned ==1.5.*", None),
    ("pinned >>1", "version range of 'pinned' '>>1' is not a version range"),
])
def test_pipelines_pin_plugin_versions(tmp_path: Path, home: Path, pin: str, error: str | None) -> None:
    root = tmp_path / "plugins"
    marker = tmp_path / "ran"
    sdk_plugin(root, "pinned", f"open({str(marker)!r}, 'w').close()\nreturn {{'n': 1}}", version="1.5.0")
    (tmp_path / "p.toml").write_text(f"[[steps]]\nplugin = 'word_frequency'\n[[steps]]\nplugin = '{pin}'\n")
    (tmp_path / "x.txt").write_text("bom dia")
    done = qualia("pipeline", "x.txt", "-f", "p.toml", "--json", home=home, plugin_path=str(root), cwd=tmp_path)
    if error is None:
        assert done.returncode == 0, done.stderr
        assert [step["id"] for step in json.loads(done.stdout)[0]["steps"]] == ["word_frequency", "pinned"]
    else:
        assert done.returncode == 2 and error in done.stderr and "step 2" in done.stderr
        assert not marker.exists() and not (tmp_path / "out" / "results.json").exists()  # nothing ran
