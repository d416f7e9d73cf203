"""Plugin discovery: manifests only, bundled first, then QUALIA_PLUGIN_PATH; broken ones reported."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from qualia.kernel.errors import NotFound, UnknownPlugin
from qualia.kernel.registry import BUNDLED_PLUGINS, Registry
from qualia.kernel.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]
QUALIA = Path(sys.executable).parent / "qualia"
# A command that leaves a file behind if it ever runs: proof that a listing started nothing.
SENTINEL_COMMAND = '["{python}", "-c", "import pathlib; pathlib.Path(\'STARTED\').touch()"]'


def write_manifest(root: Path, plugin_id: str, *, folder: str | None = None, body: str | None = None,
                   command: str = SENTINEL_COMMAND) -> Path:
    path = root / (folder or plugin_id) / "plugin.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if body is not None else textwrap.dedent(f"""\
        id = "{plugin_id}"
        name = "{plugin_id}"
        version = "1.0.0"
        kind = "analyzer"
        command = {command}
        provides = ["{plugin_id}_artefact"]
        """), encoding="utf-8")
    return path


def registry_for(*roots: Path, home: Path) -> Registry:
    env = {"QUALIA_HOME": str(home), "QUALIA_PLUGIN_PATH": os.pathsep.join(str(r) for r in roots)}
    settings = Settings.from_env(env=env)
    registry = Registry(settings.plugin_path, entry_points=False)
    registry.reload()
    return registry


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


# ---- discovery -------------------------------------------------------------------

def test_bundled_plugins_are_found() -> None:
    registry = Registry(entry_points=False)
    registry.reload()
    manifest = registry.get("word_frequency")
    assert manifest.kind == "analyzer"
    assert "word_frequencies" in manifest.provides
    assert manifest.path == str(BUNDLED_PLUGINS / "word_frequency")
    assert BUNDLED_PLUGINS == PROJECT / "plugins"
    assert "top_n" in manifest.parameters


def test_nothing_is_known_before_reload() -> None:
    registry = Registry(entry_points=False)
    assert len(registry) == 0
    with pytest.raises(UnknownPlugin):
        registry.get("word_frequency")


def test_plugins_come_from_every_folder_of_qualia_plugin_path(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_manifest(first, "alpha")
    write_manifest(first, "beta")
    write_manifest(second, "gamma")
    registry = registry_for(first, second, home=tmp_path / "home")
    ids = {m.id for m in registry}
    assert {"alpha", "beta", "gamma", "word_frequency"} <= ids
    assert registry.get("gamma").path == str((second / "gamma").resolve())
    assert registry.problems == []


def test_iteration_is_sorted_by_id_and_len_counts(tmp_path: Path) -> None:
    write_manifest(tmp_path / "p", "zeta")
    write_manifest(tmp_path / "p", "aardvark")
    registry = registry_for(tmp_path / "p", home=tmp_path)
    ids = [m.id for m in registry]
    assert ids == sorted(ids)
    assert len(registry) == len(ids)


def test_folders_without_a_manifest_are_skipped_and_a_plugin_folder_on_the_path_is_named(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_manifest(root, "real")
    (root / "notes").mkdir()
    (root / "notes" / "README.md").write_text("not a plugin")
    (root / "plugin.toml").write_text("this file is not inside a plugin folder")
    registry = registry_for(root, home=tmp_path)
    assert "real" in registry.manifests
    [problem] = registry.problems
    assert problem.path == str(root)
    assert "itself a plugin folder" in problem.reason and f"use its parent {tmp_path}" in problem.reason


def test_providers_of_an_artefact(tmp_path: Path) -> None:
    write_manifest(tmp_path / "p", "alpha")
    registry = registry_for(tmp_path / "p", home=tmp_path)
    assert [m.id for m in registry.providers("alpha_artefact")] == ["alpha"]
    assert "word_frequency" in [m.id for m in registry.providers("word_frequencies")]
    assert registry.providers("nothing") == []


def test_a_bundled_id_wins_over_a_duplicate_in_the_plugin_path(tmp_path: Path) -> None:
    dup = write_manifest(tmp_path / "p", "word_frequency", folder="my_word_frequency")
    registry = registry_for(tmp_path / "p", home=tmp_path)
    assert registry.get("word_frequency").path == str(BUNDLED_PLUGINS / "word_frequency")
    assert [(p.path, "duplicate id 'word_frequency'" in p.reason) for p in registry.problems] == \
        [(str(dup.resolve()), True)]


# ---- broken manifests ---------------------------------------------------------------

def test_broken_manifests_are_reported_and_the_others_still_load(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_manifest(first, "good_one")
    bad_toml = write_manifest(first, "bad_toml", body='id = "bad_toml"\nname = "unterminated\n')
    missing = write_manifest(first, "missing_keys", body='id = "missing_keys"\nname = "x"\n')
    write_manifest(second, "good_two")
    duplicate = write_manifest(second, "good_one", folder="good_one_again")
    registry = registry_for(first, second, home=tmp_path)

    assert {"good_one", "good_two", "word_frequency"} <= set(registry.manifests)
    assert registry.get("good_one").path == str((first / "good_one").resolve()), "the first one found wins"
    reasons = {problem.path: problem.reason for problem in registry.problems}
    assert set(reasons) == {str(bad_toml.resolve()), str(missing.resolve()), str(duplicate.resolve())}
    assert "invalid TOML" in reasons[str(bad_toml.resolve())]
    assert "missing required field" in reasons[str(missing.resolve())]
    assert "version" in reasons[str(missing.resolve())]
    assert "duplicate id 'good_one'" in reasons[str(duplicate.resolve())]
    assert str((first / "good_one").resolve()) in reasons[str(duplicate.resolve())]


def test_a_plugin_path_entry_that_is_not_a_folder_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "does_not_exist"
    write_manifest(tmp_path / "p", "alpha")
    registry = registry_for(missing, tmp_path / "p", home=tmp_path)
    assert "alpha" in registry.manifests
    assert [(p.path, "not a folder" in p.reason) for p in registry.problems] == [(str(missing), True)]


def test_the_same_folder_twice_is_read_once(tmp_path: Path) -> None:
    write_manifest(tmp_path / "p", "alpha")
    registry = registry_for(tmp_path / "p", tmp_path / "p", home=tmp_path)
    assert "alpha" in registry.manifests
    assert registry.problems == []


# ---- reload ---------------------------------------------------------------------------

def test_reload_picks_up_manifests_added_changed_and_removed_at_run_time(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    registry = registry_for(root, home=tmp_path)
    with pytest.raises(UnknownPlugin):
        registry.get("late")

    path = write_manifest(root, "late")
    registry.reload()
    assert registry.get("late").version == "1.0.0"

    path.write_text(path.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    registry.reload()
    assert registry.get("late").version == "1.1.0"

    path.write_text("broken = [")
    registry.reload()
    assert "late" not in registry.manifests
    assert [p.path for p in registry.problems] == [str(path.resolve())]

    path.unlink()
    registry.reload()
    assert registry.problems == [] and "late" not in registry.manifests


def test_an_unknown_id_raises_unknown_plugin_with_the_known_ids() -> None:
    registry = Registry(entry_points=False)
    registry.reload()
    with pytest.raises(UnknownPlugin) as caught:
        registry.get("no_such_plugin")
    error = caught.value
    assert isinstance(error, NotFound) and error.status == 404 and error.code == "unknown_plugin"
    assert "no_such_plugin" in error.message
    assert error.details["plugin"] == "no_such_plugin"
    assert "word_frequency" in error.details["known"]


# ---- listing starts nothing ------------------------------------------------------------

def test_reload_starts_no_process(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_manifest(root, "sentinel")
    before = children()
    registry = registry_for(root, home=tmp_path)
    registry.reload()
    assert "sentinel" in registry.manifests
    assert children() <= before
    assert not (root / "sentinel" / "STARTED").exists()


def test_qualia_plugins_starts_no_plugin_process(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_manifest(root, "sentinel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    env.update(QUALIA_HOME=str(tmp_path / "home"), QUALIA_PLUGIN_PATH=str(root))
    before = children()
    for args in (["plugins"], ["plugins", "--json"], ["plugins", "show", "sentinel"]):
        done = subprocess.run([str(QUALIA), *args], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "sentinel" in done.stdout
    assert children() <= before
    assert not (root / "sentinel" / "STARTED").exists()

    # The sentinel is a real witness: using the plugin starts it, and that leaves the file.
    used = subprocess.run([str(QUALIA), "analyze", "-", "-p", "sentinel"], env=env, input="text",
                          capture_output=True, text=True, timeout=30)
    assert used.returncode == 1, used.stderr  # it never answers the handshake
    assert (root / "sentinel" / "STARTED").exists()


def test_installed_package_with_entry_point_is_discovered_without_import(tmp_path: Path, monkeypatch) -> None:
    """A pip-installed plugin: a dist-info declaring `qualia.plugins`, found by module location only."""
    site = tmp_path / "site"
    package = site / "qualia_shout"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the kernel must not import plugin code')\n")
    (package / "plugin.toml").write_text(
        'id = "shout"\nname = "Shout"\nversion = "2.0.0"\nkind = "analyzer"\n'
        'command = ["{python}", "-m", "qualia_shout"]\n')
    dist = site / "qualia_shout-2.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qualia-shout\nVersion: 2.0.0\n")
    (dist / "entry_points.txt").write_text("[qualia.plugins]\nshout = qualia_shout\n")
    monkeypatch.syspath_prepend(str(site))

    registry = Registry(entry_points=True)
    registry.reload()

    assert registry.get("shout").path == str(package.resolve())
    assert registry.get("shout").version == "2.0.0"
    assert "word_frequency" in registry.manifests  # bundled ones still there
