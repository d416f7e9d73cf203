"""The SDK's pytest plugin (entry point `pytest11`): light to load, opt-in fixtures, any language.

pytest loads it in every run of an environment with qualia-core installed, this
suite included: importing it must not pull in the kernel or msgspec, and no
fixture may run unless a test names it. The fixtures themselves are exercised by
running pytest on authors' tests in a subprocess, as an author would.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

QUALIA = str(Path(sys.executable).parent / "qualia")


def test_it_is_registered_as_a_pytest11_entry_point() -> None:
    [plugin] = [ep for ep in entry_points(group="pytest11") if ep.name == "qualia"]
    assert plugin.value == "qualia.plugin_sdk.pytest_plugin"


def test_importing_it_pulls_in_nothing_heavy() -> None:
    probe = ("import sys; import qualia.plugin_sdk.pytest_plugin; "
             "print(sorted(m for m in sys.modules if m.startswith(('qualia.kernel', 'aiohttp', 'asyncio', "
             "'watchfiles', 'matplotlib', 'packaging'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_its_fixtures_are_all_prefixed_and_opt_in(request: pytest.FixtureRequest) -> None:
    from qualia.plugin_sdk import pytest_plugin

    names = [name for name, value in vars(pytest_plugin).items() if hasattr(value, "_fixture_function_marker")
             or type(value).__name__ == "FixtureFunctionDefinition"]
    assert names and all(name.startswith("qualia_") for name in names), names
    assert not set(names) & set(request.fixturenames)  # nothing autouse reached this test


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUALIA_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W",
                           "ignore::DeprecationWarning", *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (Debian's nodejs) is not installed")
def test_process_and_kernel_fixtures_drive_a_node_plugin(tmp_path: Path) -> None:
    subprocess.run([QUALIA, "create", "plugin", "node_words", "--kind", "analyzer", "--lang", "node"], cwd=tmp_path,
                   check=True, capture_output=True, timeout=60)
    tests = tmp_path / "node_words" / "pytests"
    tests.mkdir()
    (tests / "test_with_fixtures.py").write_text(textwrap.dedent("""\
        import pytest
        from qualia.plugin_sdk import InputError

        def test_handshake_and_run(qualia_process, qualia_manifest):
            assert qualia_process.hello["id"] == qualia_manifest.id == "node_words"
            assert qualia_process.run("um dois três", {"min_length": 1}) == {"words": 3, "characters": 12}

        def test_input_error_over_the_wire(qualia_process):
            with pytest.raises(InputError, match="the text is empty"):
                qualia_process.run("  ", {"min_length": 1})

        def test_behind_the_bundled_cleaner(qualia_kernel, qualia_samples):
            run = qualia_kernel.pipeline("Ana: olá pessoal\\nBruno: oi", ["teams_cleaner", "node_words"])
            assert qualia_kernel.results(run)["node_words"]["speakers"] == {"Ana": 2, "Bruno": 1}
            assert qualia_kernel.run("node_words", qualia_samples[0])["words"] > 5

        def test_the_harness_is_for_python_plugins(qualia_harness):
            pass
        """), encoding="utf-8")
    done = _pytest(tests)
    assert "3 passed" in done.stdout, done.stdout + done.stderr
    assert "1 error" in done.stdout  # at fixture setup, with the reason
    assert "qualia_harness: " in done.stdout and "test it as a process (PluginClient" in done.stdout


def test_a_plugin_that_prints_to_stdout_fails_the_process_fixture(tmp_path: Path) -> None:
    subprocess.run([QUALIA, "create", "plugin", "loud", "--kind", "analyzer"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    code = tmp_path / "loud" / "plugin.py"
    code.write_text("import os\nos.write(1, b'hello\\n')\n" + code.read_text(), encoding="utf-8")
    done = _pytest(tmp_path / "loud", "-k", "kernel_starts_it")
    assert "test_runs_as_the_kernel_starts_it" in done.stdout
    assert "wrote a line on stdout that is not a JSON-RPC message: b'hello\\n'" in done.stdout
