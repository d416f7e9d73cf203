"""Plugins as pip distributions: `create --package`, the plugin index, `plugins install`, in a fresh venv.

The fresh venv sees this environment's packages (qualia-core and its dependencies)
through a `.pth` that adds their site folder, so nothing is downloaded: the
plugin distributions are built here and pip runs with `--no-index`. What is
installed goes into the fresh venv only, never into the environment running the
tests.
"""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from qualia.kernel.plugin_index import SAMPLE_INDEX, load_index, search

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def run(command: list[str], *, cwd: Path, env: dict[str, str], expect: int | None = 0,
        timeout: float = 180, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          input=stdin)
    if expect is not None:
        assert done.returncode == expect, f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


class Venv:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.python = str(root / "bin" / "python")
        self.site = next((root / "lib").glob("python3*/site-packages"))
        self.env = env

    def qualia(self, *args: str, cwd: Path, expect: int | None = 0, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run([self.python, "-m", "qualia.kernel.cli", *args], cwd=cwd, env=self.env, expect=expect,
                   stdin=stdin)

    def pip(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return run([self.python, "-m", "pip", *args, "--no-index", "--disable-pip-version-check", "-q"],
                   cwd=cwd, env=self.env)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("fresh") / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUALIA_", "PYTEST_", "PIP_"))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["QUALIA_HOME"] = str(root.parent / "home")
    env["PIP_NO_INPUT"] = "1"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    fresh = Venv(root, env)
    ours = next(path for path in site.getsitepackages() if Path(path, "qualia_core-0.1.0.dist-info").exists()
                or any(Path(path).glob("qualia_core-*.dist-info")))
    (fresh.site / "zz_qualia_dev.pth").write_text(f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    return fresh


def test_a_created_package_installs_into_a_fresh_venv_and_is_listed_with_its_distribution(venv: Venv,
                                                                                           tmp_path: Path) -> None:
    venv.qualia("create", "plugin", "packaged", "--kind", "analyzer", "--package", cwd=tmp_path)
    project = tmp_path / "packaged"
    pyproject = (project / "pyproject.toml").read_text()
    assert '[project.entry-points."qualia.plugins"]\npackaged = "qualia_packaged"' in pyproject
    assert 'qualia_packaged = ["plugin.toml"]' in pyproject

    venv.pip("install", "--no-build-isolation", str(project), cwd=tmp_path)  # a regular (not editable) install

    listing = json.loads(venv.qualia("plugins", "--json", cwd=tmp_path).stdout)
    plugin = next(p for p in listing["plugins"] if p["id"] == "packaged")
    assert plugin["source"]["kind"] == "entry_point"
    assert plugin["source"]["distribution"] == "qualia-packaged 0.1.0"
    assert plugin["source"]["entry_point"] == "qualia.plugins:packaged = qualia_packaged"
    assert Path(plugin["path"]) == venv.site / "qualia_packaged"
    assert (venv.site / "qualia_packaged" / "plugin.toml").is_file()  # shipped as package data
    assert listing["problems"] == []

    table = venv.qualia("plugins", cwd=tmp_path).stdout
    row = next(line for line in table.splitlines() if line.startswith("packaged "))
    assert "entry point qualia.plugins:packaged = qualia_packaged (qualia-packaged 0.1.0)" in row
    assert row.endswith(str(venv.site / "qualia_packaged"))

    counted = venv.qualia("analyze", "-", "-p", "packaged", "--json", cwd=tmp_path, stdin="três palavras aqui")
    assert json.loads(counted.stdout) == {"words": 3, "characters": 18}
    check = venv.qualia("plugins", "check", "packaged", cwd=tmp_path)  # the installed copy, from site-packages
    assert "packaged: conforms to qualia/1" in check.stdout and str(venv.site / "qualia_packaged") in check.stdout


def test_install_from_a_local_index_and_wheel(venv: Venv, tmp_path: Path) -> None:
    venv.qualia("create", "plugin", "indexed", "--kind", "document", "--package", cwd=tmp_path)
    wheels = tmp_path / "wheels"
    venv.pip("wheel", "--no-build-isolation", "--no-deps", "-w", str(wheels), str(tmp_path / "indexed"), cwd=tmp_path)
    [wheel] = wheels.glob("qualia_indexed-0.1.0-*.whl")
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"format": "qualia-plugin-index/1", "plugins": [
        {"name": "indexed", "description": "Masks e-mail addresses", "kind": "document", "version": "0.1.0",
         "distribution": "qualia-indexed", "pip_args": ["--no-index", "--find-links", "wheels"]},
        {"name": "by_wheel", "description": "the same wheel, named by path", "install": f"wheels/{wheel.name}"},
        {"name": "bare", "distribution": "qualia-indexed"},  # pip arguments come from the command line
    ]}), encoding="utf-8")

    found = venv.qualia("plugins", "search", "e-mail", "--index", str(index), cwd=tmp_path).stdout
    assert "indexed" in found and "by_wheel" not in found and f"index: {index}" in found
    assert "indexed" not in venv.qualia("plugins", cwd=tmp_path).stdout

    installed = venv.qualia("plugins", "install", "indexed", "--index", str(index), cwd=tmp_path)
    assert installed.stdout.startswith("installed indexed 0.1.0 (entry point qualia.plugins:indexed = "
                                       "qualia_indexed (qualia-indexed 0.1.0)) at ")
    listing = venv.qualia("plugins", "--json", cwd=tmp_path).stdout
    assert "indexed" in {p["id"] for p in json.loads(listing)["plugins"]}  # listed at once
    processed = venv.qualia("process", "-", "-p", "indexed", cwd=tmp_path, stdin="write to ana@example.org")
    assert json.loads(processed.stdout)["text"] == "write to [email]"

    missing = venv.qualia("plugins", "install", "nothing_here", "--index", str(index), cwd=tmp_path, expect=2)
    assert "no plugin 'nothing_here' in the index" in missing.stderr and "bare, by_wheel, indexed" in missing.stderr

    # Arguments after `--` reach pip (here: a reinstall from the same local wheel folder).
    bare = venv.qualia("plugins", "install", "bare", "--index", str(index), "--", "--no-index", "--find-links",
                       str(wheels), "--force-reinstall", "--no-deps", cwd=tmp_path, expect=1)
    assert "but no plugin 'bare' is discovered" in bare.stderr  # installed, but it provides `indexed`, not `bare`
    assert "Successfully installed qualia-indexed-0.1.0" in bare.stderr


def test_a_bad_index_is_named_with_its_field(tmp_path: Path) -> None:
    bad = tmp_path / "index.json"
    bad.write_text(json.dumps({"plugins": [{"description": "no name"}]}))
    done = subprocess.run([sys.executable, "-m", "qualia.kernel.cli", "plugins", "search", "x", "--index", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"plugin index {bad}" in done.stderr and "$.plugins[0]" in done.stderr and "name" in done.stderr


def test_the_sample_index_lists_every_bundled_plugin_and_is_current() -> None:
    sys.path.insert(0, str(PROJECT / "scripts"))
    try:
        from make_plugin_index import render
    finally:
        sys.path.remove(str(PROJECT / "scripts"))
    assert SAMPLE_INDEX.read_text(encoding="utf-8") == render(), \
        "kernel/plugin-index.json is out of date: run scripts/make_plugin_index.py"
    index = load_index(str(SAMPLE_INDEX))
    bundled = sorted(p.name for p in (PROJECT / "plugins").iterdir() if (p / "plugin.toml").is_file())
    assert sorted(entry.name for entry in index.plugins) == bundled
    assert [entry.name for entry in search(index, "WORD_FREQUENCIES")] == ["frequency_chart", "word_frequency",
                                                                            "wordcloud_viz"]
