"""The project folder: qualia.toml found like git finds .git, validated with its line, made by init_project."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from qualia.kernel.errors import UsageError
from qualia.kernel.project import (DEFAULT_PIPELINE, PROJECT_FILE, ProjectFileError, find_project, init_project,
                                   locate_key, read_project)

EXAMPLE_PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "transcript.toml"


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROJECT_FILE).write_text(text, encoding="utf-8")
    return folder


def error_of(folder: Path) -> ProjectFileError:
    with pytest.raises(ProjectFileError) as caught:
        read_project(folder)
    return caught.value


# ---- finding it -------------------------------------------------------------------------------------

def test_the_project_is_found_from_a_folder_below_it(tmp_path: Path) -> None:
    root = write(tmp_path / "study", "")
    (root / "data" / "round1").mkdir(parents=True)
    assert find_project(root / "data" / "round1") == root.resolve()
    assert find_project(root) == root.resolve()


def test_the_nearest_project_wins(tmp_path: Path) -> None:
    outer = write(tmp_path / "outer", "")
    inner = write(outer / "inner", "")
    assert find_project(inner / ".") == inner.resolve()


def test_no_project_above_a_plain_folder(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert find_project(tmp_path / "plain") is None


def test_a_folder_named_qualia_toml_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "x" / PROJECT_FILE).mkdir(parents=True)
    assert find_project(tmp_path / "x") is None


# ---- reading it -------------------------------------------------------------------------------------

def test_values_are_read_and_located(tmp_path: Path) -> None:
    root = write(tmp_path, '[project]\nlanguage = "pt"\nstopwords = ["gente"]\n\n[aliases]\n"Ana" = "Ana Souza"\n'
                           '\n[plugins.word_frequency]\ntop_n = 7\n\n[kernel]\nbreaker_failures = 2\n')
    project = read_project(root)
    assert project.get("project.language") == "pt"
    assert project.get("aliases") == {"Ana": "Ana Souza"}
    assert project.get("plugins.word_frequency.top_n") == 7
    assert project.get("kernel.breaker_failures") == 2
    assert project.where("project.stopwords") == f"{root.resolve() / PROJECT_FILE}:3"
    assert project.where("plugins.word_frequency.top_n").endswith(":9")
    assert project.where("kernel.breaker_failures").endswith(":12")


def test_unset_keys_are_told_apart_from_empty_ones(tmp_path: Path) -> None:
    from msgspec import UNSET
    project = read_project(write(tmp_path, "[project]\nstopwords = []\n"))
    assert project.get("project.stopwords") == []
    assert project.get("project.language") is UNSET and project.get("aliases") is UNSET


def test_a_typo_names_the_file_the_line_and_the_closest_key(tmp_path: Path) -> None:
    root = write(tmp_path, '[project]\nlanguage = "pt"\noutptu = "results"\n')
    error = error_of(root)
    assert error.message == (f"{root.resolve() / PROJECT_FILE}:3: unknown key 'project.outptu'; "
                             "did you mean 'project.output'?")
    assert error.details["line"] == 3 and error.details["key"] == "project.outptu"
    assert error.exit_code == 2


def test_an_unknown_section_is_named_with_a_suggestion(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, '\n[kernal]\nhome = "x"\n'))
    assert ":2: unknown key 'kernal'; did you mean 'kernel'?" in error.message


def test_an_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "[kernel]\nzzz = 1\n"))
    assert "unknown key 'kernel.zzz'; known keys here: home, plugin_path, breaker_failures" in error.message


@pytest.mark.parametrize(("text", "line", "said"), [
    ("[kernel]\nbreaker_failures = 0\n", 2, "kernel.breaker_failures: expected int >= 1"),
    ("[kernel]\nbreaker_open_s = nan\n", 2, "kernel.breaker_open_s: expected float >= 0.0"),
    ('[kernel]\nqueue_limit = "many"\n', 2, "kernel.queue_limit: expected int, got str"),
    ('[project]\nlanguage = "fr"\n', 2, "project.language: must be one of auto, pt, en"),
    ("[project]\nstopwords = [1]\n", 2, "project.stopwords: expected str, got int"),
    ('[aliases]\nAna = 3\n', 2, "aliases.Ana: expected str, got int"),
    ('[plugins]\nword_frequency = 3\n', 2, "plugins.word_frequency: expected object, got int"),
])
def test_a_wrong_value_names_its_key_and_line(tmp_path: Path, text: str, line: int, said: str) -> None:
    root = write(tmp_path, text)
    assert error_of(root).message == f"{root.resolve() / PROJECT_FILE}:{line}: {said}"


def test_invalid_toml_names_the_file_and_tomllib_says_where(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "[project]\nlanguage = \n"))
    assert error.message.startswith(f"{tmp_path.resolve() / PROJECT_FILE}: not valid TOML:")
    assert "line 2" in error.message


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    assert "no qualia.toml there" in error_of(tmp_path).message
    (tmp_path / PROJECT_FILE).write_bytes(b"\xff\xfe\x00bad")
    assert f"cannot read {tmp_path / PROJECT_FILE}" in error_of(tmp_path).message


def test_locate_key_reads_headers_dotted_and_inline_keys() -> None:
    text = ('# top\nname = 1\n[plugins]\nword_frequency = { top_n = 3 }\n[plugins."sentiment_analyzer"]\n'
            'window = 2\n[kernel]\nplugin_path = ["a"]\n')
    assert locate_key(text, ["name"]) == 2
    assert locate_key(text, ["plugins", "word_frequency", "top_n"]) == 4  # inside an inline table: its line
    assert locate_key(text, ["plugins", "sentiment_analyzer", "window"]) == 6
    assert locate_key(text, ["kernel", "plugin_path"]) == 8
    assert locate_key(text, ["kernel", "home"]) == 7  # not written: the nearest parent
    assert locate_key(text, ["nothing"]) is None


# ---- making one -------------------------------------------------------------------------------------

def test_init_makes_a_valid_project(tmp_path: Path) -> None:
    written = init_project(tmp_path / "study", language="pt")
    root = tmp_path / "study"
    assert written == [root / PROJECT_FILE, root / DEFAULT_PIPELINE]
    assert all((root / name).is_dir() for name in ("pipelines", "data", "out"))
    project = read_project(root)
    assert project.get("project.language") == "pt"
    assert project.resolve(project.get("project.pipeline")) == (root / DEFAULT_PIPELINE).resolve()
    assert project.resolve(project.get("project.output")) == (root / "out").resolve()


def test_the_default_pipeline_has_the_examples_steps() -> None:
    """The package ships its own copy (examples/ is not installed); a test keeps the two alike."""
    shipped = tomllib.loads((Path(init_project.__code__.co_filename).parent / "templates" / DEFAULT_PIPELINE)
                            .read_text(encoding="utf-8"))
    assert shipped == tomllib.loads(EXAMPLE_PIPELINE.read_text(encoding="utf-8"))


def test_init_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / PROJECT_FILE).write_text('[project]\nlanguage = "en"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"already holds a Qualia project .*use --force"):
        init_project(tmp_path, language="pt")
    assert (tmp_path / PROJECT_FILE).read_text(encoding="utf-8") == '[project]\nlanguage = "en"\n'


def test_init_refuses_when_only_the_pipeline_exists(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / DEFAULT_PIPELINE).write_text("# mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="transcript.toml"):
        init_project(tmp_path)
    assert not (tmp_path / PROJECT_FILE).exists()


def test_force_rewrites_the_settings_and_keeps_the_data(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / "data" / "interview.txt").write_text("kept", encoding="utf-8")
    (tmp_path / "out" / "results.json").write_text("[]", encoding="utf-8")
    (tmp_path / PROJECT_FILE).write_text("[broken", encoding="utf-8")
    init_project(tmp_path, language="en", force=True)
    assert read_project(tmp_path).get("project.language") == "en"
    assert (tmp_path / "data" / "interview.txt").read_text(encoding="utf-8") == "kept"
    assert (tmp_path / "out" / "results.json").exists()


def test_init_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="not a folder"):
        init_project(tmp_path / "taken")
