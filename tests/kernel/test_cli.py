"""The `qualia` command, run as the installed console script in real subprocesses.

Exit codes: 0 success, 1 a failure while working (a plugin failed), 2 a usage
error (bad flags, unknown plugin, invalid config); errors go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from qualia.kernel import __version__ as qualia_version
from qualia.kernel.cli import build_parser
from qualia.kernel.registry import Registry

PROJECT = Path(__file__).resolve().parents[2]
QUALIA = Path(sys.executable).parent / "qualia"
TEAMS_PT = "examples/transcripts/teams_pt.vtt"
TEAMS_EN = "examples/transcripts/teams_en.vtt"


def qualia(*args: str, home: Path, plugin_path: Path | None = None, stdin: str | None = None,
           timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    env["QUALIA_HOME"] = str(home)
    if plugin_path is not None:
        env["QUALIA_PLUGIN_PATH"] = str(plugin_path)
    return subprocess.run([str(QUALIA), *args], cwd=PROJECT, env=env, input=stdin, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def usage_error(done: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit code 2, nothing on stdout, a message on stderr naming each of `named`."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert "error" in done.stderr
    for word in named:
        assert word in done.stderr, f"{word!r} not in {done.stderr!r}"
    assert "Traceback" not in done.stderr


# ---- plugins written on the fly --------------------------------------------------

GOOD_PLUGIN = """\
from qualia.plugin_sdk import AnalyzerPlugin, serve


class Good(AnalyzerPlugin):
    def analyze(self, document, config, inputs):
        return {"length": len(document.text)}


if __name__ == "__main__":
    serve(Good)
"""

CRASH_ON_RUN = """\
import json
import sys

for line in sys.stdin:
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        result = {"protocol": "qualia/1", "id": "crashy", "version": "1.0.0"}
        print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
    elif method == "run":
        print("crashy: cannot cope with this document", file=sys.stderr, flush=True)
        sys.exit(3)
    elif method == "shutdown":
        print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": None}), flush=True)
    elif method == "exit":
        break
"""

BROKEN_AT_START = """\
import sys

print("loading the model...", file=sys.stderr)
print("FATAL: model file weights.bin is missing", file=sys.stderr)
sys.exit(4)
"""

NO_VERSION = 'id = "no_version"\nname = "x"\nkind = "analyzer"\ncommand = ["x"]\n'


def add_plugin(root: Path, plugin_id: str, script: str) -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        id = "{plugin_id}"
        name = "{plugin_id}"
        version = "1.0.0"
        kind = "analyzer"
        command = ["{{python}}", "plugin.py"]
        timeout_s = 10
        """), encoding="utf-8")
    (folder / "plugin.py").write_text(script, encoding="utf-8")
    return folder


# ---- help and version ------------------------------------------------------------

def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_paths(sub, (*prefix, name))


COMMANDS = list(command_paths(build_parser()))


def test_every_command_is_covered_by_the_help_test() -> None:
    assert {("version",), ("plugins",), ("plugins", "show"), ("analyze",), ("doctor",), ("create", "plugin"),
            ("plugins", "check"), ("plugins", "search"), ("plugins", "install"), ("plugins", "reload"),
            ("plugins", "reset-breaker")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "qualia")
def test_help_works_for_every_command(command: tuple[str, ...], home: Path) -> None:
    done = qualia(*command, "--help", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: qualia")
    assert " ".join(("qualia", *command)) in done.stdout.splitlines()[0]
    assert done.stderr == ""


def test_version(home: Path) -> None:
    done = qualia("version", home=home)
    assert done.returncode == 0
    assert done.stdout == f"qualia-core {qualia_version}\n"
    assert qualia_version != ""


def test_no_command_is_a_usage_error(home: Path) -> None:
    usage_error(qualia(home=home), "COMMAND")


# ---- plugins ---------------------------------------------------------------------------

def test_plugins_lists_the_bundled_plugins_as_a_table(home: Path) -> None:
    done = qualia("plugins", home=home)
    assert done.returncode == 0, done.stderr
    header, rule, *rows = done.stdout.splitlines()
    assert header.split() == ["id", "kind", "version", "provides", "requires", "source", "path"]
    assert set(rule) <= {"-", " "}
    word_frequency = next(row for row in rows if row.startswith("word_frequency "))
    assert "analyzer" in word_frequency and "word_frequencies" in word_frequency
    assert word_frequency.split()[-2:] == ["bundled", str(PROJECT / "plugins" / "word_frequency")]  # never cut


def test_plugins_json(home: Path) -> None:
    done = qualia("plugins", "--json", home=home)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert set(listing) == {"plugins", "problems"}
    plugins = {plugin["id"]: plugin for plugin in listing["plugins"]}
    word_frequency = plugins["word_frequency"]
    assert word_frequency["kind"] == "analyzer"
    assert word_frequency["state"] == "not started"
    assert word_frequency["provides"] == ["word_frequencies"]
    top_n = word_frequency["parameters"]["top_n"]
    assert (top_n["type"], top_n["default"], top_n["min"], top_n["max"]) == ("integer", 50, 1, 10000)
    assert word_frequency["parameters"]["language"]["choices"] == ["auto", "pt", "en"]
    assert word_frequency["parameters"]["stopwords"]["default"] == []


def test_plugins_reports_broken_manifests(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    (root / "half_done").mkdir(parents=True)
    (root / "half_done" / "plugin.toml").write_text('id = "half_done"\n', encoding="utf-8")
    done = qualia("plugins", home=home, plugin_path=root)
    assert done.returncode == 0
    assert f"broken: {root / 'half_done' / 'plugin.toml'}: " in done.stdout
    listing = json.loads(qualia("plugins", "--json", home=home, plugin_path=root).stdout)
    assert [p["path"] for p in listing["problems"]] == [str(root / "half_done" / "plugin.toml")]
    assert "missing required field" in listing["problems"][0]["reason"]


def test_plugins_show(home: Path) -> None:
    done = qualia("plugins", "show", "word_frequency", home=home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "id: word_frequency" in lines
    assert "kind: analyzer" in lines
    assert "state: not started" in lines
    assert "parameters:" in lines
    params = lines[lines.index("parameters:") + 1:]
    assert params[0].split() == ["name", "type", "default", "range/choices", "description"]
    top_n = next(line for line in params if line.split()[0] == "top_n")
    assert top_n.split()[1:4] == ["integer", "50", "1..10000"]


def test_plugins_show_json(home: Path) -> None:
    done = qualia("plugins", "show", "word_frequency", "--json", home=home)
    assert done.returncode == 0
    view = json.loads(done.stdout)
    assert view["id"] == "word_frequency" and view["parameters"]["top_n"]["default"] == 50


def test_plugins_show_unknown_plugin(home: Path) -> None:
    usage_error(qualia("plugins", "show", "no_such_plugin", home=home), "no_such_plugin")


# ---- analyze ---------------------------------------------------------------------------

def analyze_json(*args: str, home: Path, stdin: str | None = None) -> Any:
    done = qualia("analyze", *args, "-p", "word_frequency", "--json", home=home, stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n")
    return json.loads(done.stdout)  # the whole of stdout is one JSON value


@pytest.fixture(scope="module")
def teams_top5(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`qualia analyze teams_pt.vtt -p word_frequency -P top_n=5 --json`, run once for the module."""
    return analyze_json(TEAMS_PT, "-P", "top_n=5", home=tmp_path_factory.mktemp("home"))


def test_analyze_json_is_exactly_the_result(teams_top5: Any) -> None:
    result = teams_top5
    assert result["language"] == "pt"
    assert result["ngram"] == 1
    frequencies = result["frequencies"]
    assert len(frequencies) == 5
    assert all(set(item) == {"term", "count", "relative"} for item in frequencies)
    counts = [item["count"] for item in frequencies]
    assert counts == sorted(counts, reverse=True)
    assert result["counted_tokens"] >= sum(counts) > 0
    assert result["unique_terms"] >= 5


def test_analyze_keeps_accents(home: Path) -> None:
    done = qualia("analyze", TEAMS_PT, "-p", "word_frequency", "-P", "top_n=10000", "--json", home=home)
    assert done.returncode == 0, done.stderr
    terms = [item["term"] for item in json.loads(done.stdout)["frequencies"]]
    accented = [term for term in terms if any(ch in term for ch in "çãõáéêíóú")]
    assert accented, terms
    assert any("ç" in term or "ã" in term for term in terms)
    assert accented[0] in done.stdout, "written as UTF-8, not as \\u escapes"


def test_analyze_several_files_gives_a_list(home: Path) -> None:
    results = analyze_json(TEAMS_PT, TEAMS_EN, "-P", "top_n=3", home=home)
    assert [item["file"] for item in results] == [TEAMS_PT, TEAMS_EN]
    assert all(set(item) == {"file", "result"} for item in results)
    assert [item["result"]["language"] for item in results] == ["pt", "en"]
    assert all(len(item["result"]["frequencies"]) == 3 for item in results)


def test_analyze_reads_stdin_for_a_dash(home: Path) -> None:
    result = analyze_json("-", "-P", "language=pt", home=home, stdin="café café café pão pão ação\n")
    assert result["frequencies"][:3] == [
        {"term": "café", "count": 3, "relative": 0.5},
        {"term": "pão", "count": 2, "relative": 0.333333},
        {"term": "ação", "count": 1, "relative": 0.166667},
    ]


def test_analyze_list_and_boolean_parameters(home: Path) -> None:
    text = "the cat and the dog and the cat\n"
    kept = analyze_json("-", "-P", "language=en", "-P", "remove_stopwords=false", home=home, stdin=text)
    assert kept["frequencies"][0] == {"term": "the", "count": 3, "relative": 0.375}
    dropped = analyze_json("-", "-P", "language=en", "-P", "stopwords=cat,dog", home=home, stdin=text)
    assert dropped["frequencies"] == []


def test_analyze_writes_the_output_file(home: Path, tmp_path: Path, teams_top5: Any) -> None:
    out = tmp_path / "results" / "teams.json"
    done = qualia("analyze", TEAMS_PT, "-p", "word_frequency", "-P", "top_n=5", "--json", "-o", str(out), home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8")) == teams_top5


def test_analyze_human_output_is_a_table(home: Path, teams_top5: Any) -> None:
    done = qualia("analyze", TEAMS_PT, "-p", "word_frequency", "-P", "top_n=5", home=home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"== {TEAMS_PT} (word_frequency)"
    assert "language: pt" in lines
    assert "frequencies:" in lines
    header = lines[lines.index("frequencies:") + 1]
    assert header.split() == ["term", "count", "relative"]
    table = lines[lines.index("frequencies:") + 3:][:5]
    expected = teams_top5["frequencies"]
    assert [row.split()[:2] for row in table] == [[item["term"], str(item["count"])] for item in expected]


@pytest.mark.parametrize(("args", "named"), [
    (["-p", "no_such_plugin"], ["no_such_plugin"]),
    (["-p", "word_frequency", "-P", "top_n"], ["-P", "key=value", "top_n"]),
    (["-p", "word_frequency", "-P", "=5"], ["key=value"]),
    (["-p", "word_frequency", "-P", "top_n=abc"], ["top_n", "abc"]),
    (["-p", "word_frequency", "-P", "top_n=0"], ["'top_n'", ">= 1"]),
    (["-p", "word_frequency", "-P", "remove_stopwords=perhaps"], ["remove_stopwords"]),
    (["-p", "word_frequency", "-P", "language=fr"], ["'language'", "fr"]),
    (["-p", "word_frequency", "-P", "colour=blue"], ["'colour'", "unknown", "top_n"]),
    (["-p", "wordcloud_viz"], ["wordcloud_viz", "visualizer"]),
    ([], ["-p/--plugin"]),
], ids=["unknown-plugin", "no-equals", "no-key", "not-an-integer", "out-of-range", "not-a-boolean",
        "not-in-choices", "unknown-key", "not-an-analyzer", "missing-plugin"])
def test_analyze_usage_errors_exit_2(args: list[str], named: list[str], home: Path) -> None:
    usage_error(qualia("analyze", TEAMS_PT, *args, home=home), *named)


def test_analyze_a_missing_file_is_a_usage_error(home: Path) -> None:
    usage_error(qualia("analyze", "no/such/file.txt", "-p", "word_frequency", home=home), "no/such/file.txt")


def test_analyze_plugin_failure_exits_1(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    add_plugin(root, "crashy", CRASH_ON_RUN)
    done = qualia("analyze", TEAMS_PT, "-p", "crashy", "--json", home=home, plugin_path=root)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "crashy" in done.stderr
    assert "exited with code 3" in done.stderr
    assert "cannot cope with this document" in done.stderr
    assert "Traceback" not in done.stderr


# ---- doctor ------------------------------------------------------------------------------

def doctor_lines(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The OK/FAIL line of each plugin, by id."""
    lines: dict[str, str] = {}
    for line in done.stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "FAIL") and not rest.lstrip().startswith("manifest "):
            plugin_id = rest.split()[0].rstrip(":")
            lines[plugin_id] = line
    return lines


def test_doctor_reports_every_plugin_ok(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    add_plugin(root, "good_plugin", GOOD_PLUGIN)
    done = qualia("doctor", home=home, plugin_path=root)
    lines = doctor_lines(done)
    assert lines["good_plugin"].startswith("OK    good_plugin 1.0.0 (pid ")
    assert lines["word_frequency"].startswith("OK    word_frequency ")
    # Bundled plugins are always checked too; the exit code is 0 exactly when all of them pass.
    registry = Registry([root])
    registry.reload()
    assert set(lines) == {manifest.id for manifest in registry}
    all_ok = all(line.startswith("OK") for line in lines.values())
    assert done.returncode == (0 if all_ok else 1), done.stdout
    assert done.stdout.rstrip().endswith("all plugins healthy" if all_ok else "some plugins are broken")


def test_doctor_names_a_broken_plugin_with_reason_and_stderr(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    add_plugin(root, "good_plugin", GOOD_PLUGIN)
    add_plugin(root, "broken_plugin", BROKEN_AT_START)
    (root / "no_version").mkdir()
    (root / "no_version" / "plugin.toml").write_text(NO_VERSION, encoding="utf-8")
    done = qualia("doctor", home=home, plugin_path=root)
    assert done.returncode == 1
    lines = doctor_lines(done)
    assert lines["good_plugin"].startswith("OK")
    broken = lines["broken_plugin"]
    assert broken.startswith("FAIL  broken_plugin: ")
    assert "failed to start" in broken and "exited with code 4" in broken
    after = done.stdout.splitlines()
    tail = after[after.index(broken) + 1:]
    assert "      | loading the model..." in tail
    assert "      | FATAL: model file weights.bin is missing" in tail
    manifest_line = f"FAIL  manifest {root / 'no_version' / 'plugin.toml'}: "
    assert any(line.startswith(manifest_line) and "version" in line for line in tail)
    assert done.stdout.rstrip().endswith("some plugins are broken")


def test_doctor_json_and_manifest_problems(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    add_plugin(root, "broken_plugin", BROKEN_AT_START)
    (root / "no_version").mkdir()
    (root / "no_version" / "plugin.toml").write_text(NO_VERSION, encoding="utf-8")
    done = qualia("doctor", "--json", home=home, plugin_path=root)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    by_id = {plugin["id"]: plugin for plugin in report["plugins"]}
    assert by_id["word_frequency"]["ok"] is True and by_id["word_frequency"]["pid"] > 0
    assert by_id["broken_plugin"]["ok"] is False
    assert "exited with code 4" in by_id["broken_plugin"]["reason"]
    assert by_id["broken_plugin"]["stderr_tail"][-1] == "FATAL: model file weights.bin is missing"
    assert [p["path"] for p in report["manifest_problems"]] == [str(root / "no_version" / "plugin.toml")]
    assert "version" in report["manifest_problems"][0]["reason"]
