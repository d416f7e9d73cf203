"""Kernel settings: `QUALIA_*` environment variables, overridden by CLI flags."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from qualia.kernel.settings import Settings


def test_defaults_with_an_empty_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.from_env(env={})
    assert settings.home == Path.home() / ".qualia"
    assert settings.plugin_path == []
    assert settings.breaker_failures == 5
    assert settings.breaker_open_s == 300.0
    assert settings.cache_path == settings.home / "cache.sqlite3"


def test_qualia_home_is_read(tmp_path: Path) -> None:
    settings = Settings.from_env(env={"QUALIA_HOME": str(tmp_path / "data")})
    assert settings.home == tmp_path / "data"
    assert settings.cache_path == tmp_path / "data" / "cache.sqlite3"


def test_an_empty_qualia_home_means_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings.from_env(env={"QUALIA_HOME": ""}).home == tmp_path / ".qualia"


def test_qualia_plugin_path_holds_several_folders(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b c"
    value = os.pathsep.join([str(first), "", str(second), ""])  # empty entries are skipped
    assert Settings.from_env(env={"QUALIA_PLUGIN_PATH": value}).plugin_path == [first, second]


def test_breaker_variables_are_read() -> None:
    settings = Settings.from_env(env={"QUALIA_BREAKER_FAILURES": "2", "QUALIA_BREAKER_OPEN_S": "0.25"})
    assert settings.breaker_failures == 2
    assert settings.breaker_open_s == 0.25
    assert isinstance(settings.breaker_failures, int)


def test_an_empty_numeric_variable_means_the_default() -> None:
    settings = Settings.from_env(env={"QUALIA_BREAKER_FAILURES": "", "QUALIA_BREAKER_OPEN_S": ""})
    assert settings.breaker_failures == 5 and settings.breaker_open_s == 300.0


def test_the_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUALIA_HOME", str(tmp_path))
    monkeypatch.setenv("QUALIA_BREAKER_FAILURES", "7")
    settings = Settings.from_env()
    assert settings.home == tmp_path and settings.breaker_failures == 7


def test_overrides_win_over_the_environment(tmp_path: Path) -> None:
    env = {"QUALIA_HOME": str(tmp_path / "env"), "QUALIA_BREAKER_FAILURES": "2", "QUALIA_BREAKER_OPEN_S": "10"}
    settings = Settings.from_env(env=env, home=tmp_path / "flag", breaker_failures=9, breaker_open_s=0.5)
    assert settings.home == tmp_path / "flag"
    assert settings.breaker_failures == 9
    assert settings.breaker_open_s == 0.5


def test_none_overrides_leave_the_environment_value(tmp_path: Path) -> None:
    env = {"QUALIA_HOME": str(tmp_path), "QUALIA_BREAKER_FAILURES": "2"}
    settings = Settings.from_env(env=env, home=None, breaker_failures=None, breaker_open_s=None)
    assert settings.home == tmp_path and settings.breaker_failures == 2 and settings.breaker_open_s == 300.0


@pytest.mark.parametrize(("name", "value"), [
    ("QUALIA_BREAKER_FAILURES", "abc"),
    ("QUALIA_BREAKER_FAILURES", "2.5"),
    ("QUALIA_BREAKER_FAILURES", "0"),
    ("QUALIA_BREAKER_FAILURES", "-1"),
    ("QUALIA_BREAKER_OPEN_S", "soon"),
    ("QUALIA_BREAKER_OPEN_S", "-1"),
    ("QUALIA_BREAKER_OPEN_S", "nan"),
    ("QUALIA_START_TIMEOUT_S", "x"),
    ("QUALIA_QUEUE_LIMIT", "many"),
])
def test_an_invalid_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env(env={name: value})


def test_zero_open_time_is_allowed() -> None:
    assert Settings.from_env(env={"QUALIA_BREAKER_OPEN_S": "0"}).breaker_open_s == 0.0


# ---- layers: default < qualia.toml < QUALIA_* < flag, each value remembering its origin -------------------

from qualia.kernel.errors import InvalidSetting  # noqa: E402
from qualia.kernel.project import PROJECT_FILE, ProjectFileError  # noqa: E402
from qualia.kernel.settings import LAYERED, SOURCES, Origin, load_settings  # noqa: E402
from qualia.plugin_sdk.manifest import Manifest, Parameter  # noqa: E402

PROJECT_TOML = """\
[project]
language = "pt"
stopwords = ["gente"]
pipeline = "pipelines/mine.toml"
output = "results"

[aliases]
"Ana" = "Ana Souza"

[plugins.word_frequency]
top_n = 7

[kernel]
home = ".qualia"
plugin_path = ["my-plugins"]
breaker_failures = 2
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    (root / "data" / "deep").mkdir(parents=True)
    (root / PROJECT_FILE).write_text(PROJECT_TOML, encoding="utf-8")
    return root.resolve()


def test_the_project_file_is_a_layer_found_from_below(project: Path) -> None:
    settings = load_settings(env={}, cwd=project / "data" / "deep")
    assert settings.project == project
    assert settings.language == "pt" and settings.stopwords == ["gente"]
    assert settings.speaker_aliases == {"Ana": "Ana Souza"}
    assert settings.plugins == {"word_frequency": {"top_n": 7}}
    assert settings.breaker_failures == 2
    # relative paths in the file are relative to the project folder, wherever the command runs
    assert settings.home == project / ".qualia"
    assert settings.plugin_path == [project / "my-plugins"]
    assert settings.pipeline == project / "pipelines" / "mine.toml"
    assert settings.output_dir == project / "results"
    assert settings.origin("language") == Origin("file", f"{project / PROJECT_FILE}:2")
    assert settings.origin("breaker_failures") == Origin("file", f"{project / PROJECT_FILE}:16")
    assert settings.parameter_origin("word_frequency", "top_n") == Origin("file", f"{project / PROJECT_FILE}:11")
    assert settings.origin("queue_limit") == Origin() and str(Origin()) == "default"


def test_environment_beats_the_file_and_flags_beat_both(project: Path) -> None:
    env = {"QUALIA_BREAKER_FAILURES": "3", "QUALIA_LANGUAGE": "en", "QUALIA_HOME": "/env/home",
           "QUALIA_OUTPUT": "env-out"}
    settings = load_settings(env=env, cwd=project, flags={"breaker_failures": 9, "output_dir": Path("flag-out")})
    assert settings.language == "en" and str(settings.origin("language")) == "env QUALIA_LANGUAGE"
    assert settings.home == Path("/env/home") and settings.origin("home") == Origin("env", "QUALIA_HOME")
    assert settings.breaker_failures == 9 and str(settings.origin("breaker_failures")) == "flag --breaker-failures"
    assert settings.output_dir == Path("flag-out")  # a flag's relative path is the caller's, not the project's
    assert settings.stopwords == ["gente"]  # untouched layers keep the file's value


def test_plugin_folders_add_up_flag_first(project: Path) -> None:
    settings = load_settings(env={"QUALIA_PLUGIN_PATH": "/env/a"}, cwd=project, flags={"plugin_path": [Path("/f")]})
    assert settings.plugin_path == [Path("/f"), Path("/env/a"), project / "my-plugins"]
    assert str(settings.origin("plugin_path")) == (
        f"flag --plugin-path + env QUALIA_PLUGIN_PATH + {project / PROJECT_FILE}:15")


def test_list_variables_are_comma_separated() -> None:
    settings = load_settings(env={"QUALIA_STOPWORDS": " ué, tipo ,,", "QUALIA_PRELOAD": "all"}, search=False)
    assert settings.stopwords == ["ué", "tipo"] and settings.preload == ["all"]


def test_qualia_project_and_the_flag_name_the_project(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_env = load_settings(env={"QUALIA_PROJECT": str(project)}, cwd=elsewhere)
    assert by_env.project == project and str(by_env.origin("project")) == "env QUALIA_PROJECT"
    by_flag = load_settings(env={}, cwd=elsewhere, project=project / PROJECT_FILE)
    assert by_flag.project == project and str(by_flag.origin("project")) == "flag --project"
    with pytest.raises(InvalidSetting, match="--project .*: no such folder"):
        load_settings(env={}, project=tmp_path / "missing")
    with pytest.raises(ProjectFileError, match="no qualia.toml there"):
        load_settings(env={"QUALIA_PROJECT": str(elsewhere)})


def test_from_env_ignores_the_current_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    assert Settings.from_env(env={"QUALIA_HOME": "/h"}).project is None
    assert load_settings(env={"QUALIA_HOME": "/h"}).project == project


def test_no_project_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(env={}, cwd=tmp_path)
    assert settings.project is None and settings.pipeline is None and settings.output_dir == Path("out")
    assert settings.language == "auto" and settings.origins == {}


@pytest.mark.parametrize(("env", "said"), [
    ({"QUALIA_LANGUAGE": "fr"}, "environment variable QUALIA_LANGUAGE='fr': must be one of auto, pt, en"),
    ({"QUALIA_QUEUE_LIMIT": "-1"}, "environment variable QUALIA_QUEUE_LIMIT='-1': expected int >= 0"),
    ({"QUALIA_START_TIMEOUT_S": "0"}, "environment variable QUALIA_START_TIMEOUT_S='0': expected float > 0.0"),
])
def test_an_environment_value_is_checked_like_the_file(env: dict[str, str], said: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        load_settings(env=env, search=False)
    assert caught.value.message == said and caught.value.exit_code == 2


def test_a_flag_value_is_checked_and_named() -> None:
    with pytest.raises(InvalidSetting, match="--breaker-failures 0: expected int >= 1"):
        load_settings(env={}, search=False, flags={"breaker_failures": 0})
    with pytest.raises(TypeError):
        load_settings(env={}, flags={"no_such_setting": 1})


def test_every_setting_is_a_key_of_the_project_file_and_every_key_a_setting() -> None:
    from qualia.kernel.project import ProjectFile, known_keys
    keys = {source.key for source in SOURCES if source.key}
    assert all(source.env for source in SOURCES if not source.key)  # a setting has at least one door
    in_file = {f"{section}.{key}" for section in ("project", "kernel", "batch") for key in known_keys([section])}
    assert keys == in_file | {"aliases", "plugins"}
    assert set(known_keys([])) == {"project", "kernel", "batch", "aliases", "plugins"}
    assert LAYERED <= set(Settings.__struct_fields__)
    assert {field for field in ProjectFile.__struct_fields__} == {"project", "kernel", "batch", "aliases", "plugins"}


# ---- the Dask cluster: [batch] cluster < QUALIA_DASK_SCHEDULER < --cluster ---------------------------------

def test_the_cluster_is_a_layered_setting_with_its_origin(project: Path) -> None:
    toml = project / PROJECT_FILE
    toml.write_text(PROJECT_TOML + '\n[batch]\ncluster = "tcp://10.0.0.5:8786"\n', encoding="utf-8")
    assert load_settings(env={}, search=False).cluster is None
    from_file = load_settings(env={}, cwd=project)
    assert from_file.cluster == "tcp://10.0.0.5:8786"
    assert from_file.origin("cluster") == Origin("file", f"{toml}:19")
    from_env = load_settings(env={"QUALIA_DASK_SCHEDULER": " local:2 "}, cwd=project)
    assert from_env.cluster == "local:2" and str(from_env.origin("cluster")) == "env QUALIA_DASK_SCHEDULER"
    from_flag = load_settings(env={"QUALIA_DASK_SCHEDULER": "local:2"}, cwd=project,
                              flags={"cluster": "tls://scheduler:8786"})
    assert from_flag.cluster == "tls://scheduler:8786" and str(from_flag.origin("cluster")) == "flag --cluster"


@pytest.mark.parametrize("value", ["somewhere", "local:0", "local:", "tcp://", "http://host:8786", "local:2 x"])
def test_a_cluster_that_is_not_local_n_or_a_scheduler_address_is_refused_at_every_door(project: Path,
                                                                                       value: str) -> None:
    said = ("expected local:N (N worker processes here, at least 1 worker) or the address of a Dask scheduler, "
            "tcp://HOST:PORT")
    with pytest.raises(InvalidSetting) as caught:
        load_settings(env={"QUALIA_DASK_SCHEDULER": value}, search=False)
    assert caught.value.message == f"environment variable QUALIA_DASK_SCHEDULER={value!r}: {said}"
    with pytest.raises(InvalidSetting) as caught:
        load_settings(env={}, search=False, flags={"cluster": value})
    assert caught.value.message == f"--cluster {value}: {said}"
    toml = project / PROJECT_FILE
    toml.write_text(PROJECT_TOML + f'\n[batch]\ncluster = "{value}"\n', encoding="utf-8")
    with pytest.raises(ProjectFileError) as caught:
        load_settings(env={}, cwd=project)
    assert caught.value.message == f"{toml}:19: batch.cluster: {said}"


def test_a_misspelt_batch_key_is_caught_like_any_other(project: Path) -> None:
    toml = project / PROJECT_FILE
    toml.write_text(PROJECT_TOML + '\n[batch]\nclusters = "local:2"\n', encoding="utf-8")
    with pytest.raises(ProjectFileError) as caught:
        load_settings(env={}, cwd=project)
    assert caught.value.message == f"{toml}:19: unknown key 'batch.clusters'; did you mean 'batch.cluster'?"


def _manifest(plugin_id: str = "counter", **parameters: Parameter) -> Manifest:
    return Manifest(id=plugin_id, name="c", version="1", kind="analyzer", command=["x"], parameters=parameters)


def test_shared_settings_fill_parameters_of_the_same_name_and_type() -> None:
    settings = Settings(home=Path("/h"), language="pt", stopwords=["gente"], speaker_aliases={"a": "A"},
                        plugins={"counter": {"top_n": 3, "stopwords": ["x"]}})
    manifest = _manifest(language=Parameter(type="string", choices=["auto", "pt", "en"]),
                         stopwords=Parameter(type="list", items="string"),
                         speaker_aliases=Parameter(type="object"), top_n=Parameter(type="integer"))
    assert settings.plugin_defaults(manifest) == {"language": "pt", "stopwords": ["x"], "speaker_aliases": {"a": "A"},
                                                  "top_n": 3}  # [plugins.ID] beats the shared value
    other = _manifest("other", language=Parameter(type="string", choices=["de"]), stopwords=Parameter(type="string"))
    assert settings.plugin_defaults(other) == {}  # not a value it takes, not the same type: left alone
    assert Settings(home=Path("/h")).plugin_defaults(manifest) == {}


def test_the_readme_documents_every_variable_and_the_precedence() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [source.env for source in SOURCES if source.env and f"`{source.env}`" not in readme]
    assert missing == [] and "`QUALIA_PROJECT`" in readme
    assert "default < the project's `qualia.toml` (below) < `QUALIA_*` environment variable < flag" \
        in " ".join(readme.split())
