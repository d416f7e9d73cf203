"""`plugin.toml`: loading and checking manifests, and validating a config against them."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from qualia.plugin_sdk.manifest import ConfigError, Manifest, ManifestError, Parameter, load_manifest, validate_config

PROJECT = Path(__file__).resolve().parents[2]

GOOD = """\
id = "word_counter"
name = "Word counter"
version = "2.0.1"
kind = "analyzer"
description = "Counts words"
command = ["{python}", "-m", "word_counter"]
provides = ["word_counts"]
requires = ["segments"]
timeout_s = 12.5
concurrency = 2
max_memory_mb = 512

[parameters.top_n]
type = "integer"
default = 50
min = 1
max = 10000
description = "How many words to return"

[parameters.language]
type = "string"
default = "auto"
choices = ["auto", "pt", "en"]

[parameters.threshold]
type = "number"
default = 0.5
min = 0
max = 1

[parameters.lowercase]
type = "boolean"
default = true

[parameters.stopwords]
type = "list"
items = "string"
default = []

[parameters.tags]
type = "list"
choices = ["a", "b", "c"]

[parameters.note]
type = "string"
"""

VISUALIZER = """\
id = "cloud"
name = "Cloud"
version = "1.0.0"
kind = "visualizer"
command = ["{python}", "cloud.py"]
requires = ["word_counts"]
formats = ["svg", "png"]

[parameters.width]
type = "integer"
default = 800
min = 100
"""


def write(tmp_path: Path, text: str, folder: str = "plugin") -> Path:
    path = tmp_path / folder / "plugin.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def good_with(replace: dict[str, str] | None = None, append: str = "") -> str:
    text = GOOD
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text + append


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return load_manifest(write(tmp_path, GOOD))


@pytest.fixture
def visualizer(tmp_path: Path) -> Manifest:
    return load_manifest(write(tmp_path, VISUALIZER, "cloud"))


# ---- load_manifest: good files ---------------------------------------------------

def test_a_good_manifest_loads_with_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    manifest = load_manifest(path)
    assert manifest.id == "word_counter"
    assert manifest.name == "Word counter"
    assert manifest.version == "2.0.1"
    assert manifest.kind == "analyzer"
    assert manifest.description == "Counts words"
    assert manifest.command == ["{python}", "-m", "word_counter"]
    assert manifest.provides == ["word_counts"]
    assert manifest.requires == ["segments"]
    assert manifest.timeout_s == 12.5
    assert manifest.concurrency == 2
    assert manifest.max_memory_mb == 512
    assert manifest.parameters["top_n"] == Parameter(type="integer", default=50, min=1, max=10000,
                                                     description="How many words to return")
    assert manifest.parameters["stopwords"].items == "string"
    assert manifest.path == str(path.parent.resolve()), "the loader records the plugin's folder"


def test_optional_keys_have_defaults(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, """\
        id = "tiny"
        name = "Tiny"
        version = "0.1"
        kind = "document"
        command = ["./tiny"]
        """))
    assert manifest.description == ""
    assert manifest.provides == [] and manifest.requires == [] and manifest.formats == []
    assert manifest.timeout_s == 30.0
    assert manifest.concurrency == 1
    assert manifest.max_memory_mb is None, "no key: the kernel's default ceiling applies"
    assert manifest.parameters == {}


def test_a_path_key_in_the_file_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, good_with({'description = "Counts words"': 'description = "Counts words"\npath = "/etc"'}))
    assert load_manifest(path).path == str(path.parent.resolve())


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (PROJECT / "plugins").glob("*/plugin.toml")))
def test_bundled_manifests_load(folder: str) -> None:
    manifest = load_manifest(PROJECT / "plugins" / folder / "plugin.toml")
    assert manifest.id == folder


# ---- load_manifest: bad files ---------------------------------------------------

BAD = [
    pytest.param(good_with({'version = "2.0.1"': 'version = "2.0.1'}), ["invalid TOML"], id="bad-toml"),
    pytest.param(good_with({'name = "Word counter"\n': ""}), ["name", "missing"], id="missing-key"),
    pytest.param(good_with({'version = "2.0.1"': "version = 2"}), ["version", "str"], id="wrong-type"),
    pytest.param(good_with({"timeout_s = 12.5": 'timeout_s = "soon"'}), ["timeout_s"], id="wrong-type-number"),
    pytest.param(good_with({'kind = "analyzer"': 'kind = "reporter"'}), ["kind"], id="unknown-kind"),
    pytest.param(good_with(append='colour = "blue"\n'), ["colour", "unknown"], id="unknown-key"),
    pytest.param(good_with(append='[parameters.extra]\ntype = "string"\nhelp = "x"\n'), ["extra", "help"],
                 id="unknown-parameter-key"),
    pytest.param(good_with(append='[parameters.extra]\ntype = "text"\n'), ["extra", "text"],
                 id="unknown-parameter-type"),
    pytest.param(good_with({'id = "word_counter"': 'id = "Word-Counter"'}), ["id", "Word-Counter"], id="bad-id"),
    pytest.param(good_with({'id = "word_counter"': 'id = "1st"'}), ["id", "1st"], id="id-starts-with-digit"),
    pytest.param(good_with({'command = ["{python}", "-m", "word_counter"]': "command = []"}), ["command"],
                 id="empty-command"),
    pytest.param(good_with({"timeout_s = 12.5": "timeout_s = 0"}), ["timeout_s"], id="zero-timeout"),
    pytest.param(good_with({"concurrency = 2": "concurrency = 0"}), ["concurrency"], id="zero-concurrency"),
    pytest.param(good_with({"max_memory_mb = 512": "max_memory_mb = 0"}), ["max_memory_mb", ">= 1"],
                 id="zero-memory"),
    pytest.param(good_with({"max_memory_mb = 512": "max_memory_mb = 1.5"}), ["max_memory_mb", "int"],
                 id="fractional-memory"),
    pytest.param(VISUALIZER.replace('formats = ["svg", "png"]\n', ""), ["visualizer", "formats"],
                 id="visualizer-without-formats"),
    pytest.param(VISUALIZER.replace('formats = ["svg", "png"]', 'formats = ["gif"]'), ["formats"],
                 id="unknown-format"),
    pytest.param(good_with({"default = 50": "default = 0"}), ["top_n", ">= 1"], id="default-below-min"),
    pytest.param(good_with({"default = 0.5": "default = 1.5"}), ["threshold", "<= 1"], id="default-above-max"),
    pytest.param(good_with({'default = "auto"': 'default = "fr"'}), ["language", "fr"], id="default-not-in-choices"),
    pytest.param(good_with({"default = 50": 'default = "50"'}), ["top_n", "integer"], id="default-wrong-type"),
    pytest.param(good_with({"default = []": 'default = ["ok", 3]'}), ["stopwords"], id="default-bad-list-item"),
    pytest.param(good_with(append='[parameters.format]\ntype = "string"\n'), ["format", "reserved"],
                 id="reserved-format-parameter"),
]


@pytest.mark.parametrize(("text", "named"), BAD)
def test_a_bad_manifest_raises_an_error_naming_the_path_and_the_key(tmp_path: Path, text: str,
                                                                   named: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    error = caught.value
    assert error.path == str(path)
    assert str(path) in str(error)
    for word in named:
        assert word in error.reason, f"{word!r} not in {error.reason!r}"
        assert word in str(error)


def test_a_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "plugin.toml"
    with pytest.raises(ManifestError, match="cannot read") as caught:
        load_manifest(path)
    assert caught.value.path == str(path)


def test_a_file_that_is_not_utf8_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "plugin.toml"
    path.write_bytes(GOOD.replace("Counts words", "Conta palavras \xe7").encode("latin-1"))
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(path)


# ---- validate_config ---------------------------------------------------------------

def test_defaults_are_filled_in(manifest: Manifest) -> None:
    assert validate_config(manifest, {}) == {"top_n": 50, "language": "auto", "threshold": 0.5, "lowercase": True,
                                             "stopwords": []}


def test_given_values_win_over_defaults(manifest: Manifest) -> None:
    config = validate_config(manifest, {"top_n": 5, "note": "hi", "tags": ["a", "c"]})
    assert config["top_n"] == 5 and config["note"] == "hi" and config["tags"] == ["a", "c"]
    assert config["language"] == "auto"


def test_the_caller_config_is_not_modified(manifest: Manifest) -> None:
    given = {"top_n": 5}
    validate_config(manifest, given)
    assert given == {"top_n": 5}


def test_mutating_a_returned_default_does_not_change_later_defaults(manifest: Manifest) -> None:
    """A plugin process validates every run against one Manifest: defaults must not leak between runs."""
    validate_config(manifest, {})["stopwords"].append("leaked")
    assert validate_config(manifest, {})["stopwords"] == []
    assert manifest.parameters["stopwords"].default == []


def test_an_unknown_key_is_named_with_the_known_ones(manifest: Manifest) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(manifest, {"topn": 5})
    assert caught.value.key == "topn"
    assert "'topn'" in str(caught.value)
    assert "unknown" in caught.value.message and "top_n" in caught.value.message


def test_a_config_that_is_not_an_object(manifest: Manifest) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(manifest, ["top_n"])  # type: ignore[arg-type]
    assert caught.value.key == "config"


INVALID = [
    pytest.param("top_n", "5", "integer", id="string-for-integer"),
    pytest.param("top_n", 5.0, "integer", id="float-for-integer"),
    pytest.param("top_n", True, "integer", id="bool-is-not-an-integer"),
    pytest.param("threshold", False, "number", id="bool-is-not-a-number"),
    pytest.param("threshold", "0.3", "number", id="string-for-number"),
    pytest.param("lowercase", 1, "boolean", id="int-for-boolean"),
    pytest.param("lowercase", "true", "boolean", id="string-for-boolean"),
    pytest.param("language", 3, "string", id="int-for-string"),
    pytest.param("stopwords", "the", "list", id="string-for-list"),
    pytest.param("top_n", 0, ">= 1", id="below-min"),
    pytest.param("top_n", 10001, "<= 10000", id="above-max"),
    pytest.param("threshold", -0.1, ">= 0", id="number-below-min"),
    pytest.param("threshold", 1.01, "<= 1", id="number-above-max"),
    pytest.param("language", "fr", "must be one of", id="not-in-choices"),
    pytest.param("tags", ["a", "z"], "must be one of", id="list-member-not-in-choices"),
]


@pytest.mark.parametrize(("key", "value", "says"), INVALID)
def test_an_invalid_value_raises_config_error_naming_the_key(manifest: Manifest, key: str, value: Any,
                                                             says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(manifest, {key: value})
    assert caught.value.key == key
    assert repr(key) in str(caught.value)
    assert says in caught.value.message


@pytest.mark.parametrize(("key", "value"), [("top_n", 1), ("top_n", 10000), ("threshold", 0), ("threshold", 1),
                                            ("threshold", 0.25), ("language", "pt"), ("lowercase", False),
                                            ("tags", []), ("stopwords", ["de", "que"])])
def test_boundaries_and_valid_values_pass(manifest: Manifest, key: str, value: Any) -> None:
    assert validate_config(manifest, {key: value})[key] == value


def test_an_integer_is_a_number(manifest: Manifest) -> None:
    assert validate_config(manifest, {"threshold": 1})["threshold"] == 1


def test_list_items_are_type_checked_and_the_item_is_named(manifest: Manifest) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(manifest, {"stopwords": ["de", 3, "que"]})
    assert caught.value.key == "stopwords[1]"
    assert "stopwords" in str(caught.value)
    assert "string" in caught.value.message


def test_list_without_item_type_takes_anything_allowed(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, good_with(append='[parameters.mixed]\ntype = "list"\n')))
    assert validate_config(manifest, {"mixed": [1, "two", None]})["mixed"] == [1, "two", None]


# ---- validate_config: visualizer format -------------------------------------------------

def test_visualizer_format_defaults_to_the_first_declared(visualizer: Manifest) -> None:
    assert validate_config(visualizer, {}) == {"width": 800, "format": "svg"}


def test_visualizer_format_can_be_chosen(visualizer: Manifest) -> None:
    assert validate_config(visualizer, {"format": "png"})["format"] == "png"


@pytest.mark.parametrize("fmt", ["html", "gif", "PNG", 1])
def test_visualizer_format_must_be_one_of_the_declared(visualizer: Manifest, fmt: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(visualizer, {"format": fmt})
    assert caught.value.key == "format"
    assert "svg" in caught.value.message and "png" in caught.value.message


def test_format_is_an_unknown_key_for_an_analyzer(manifest: Manifest) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(manifest, {"format": "png"})
    assert caught.value.key == "format"
    assert "unknown" in caught.value.message


def test_visualizer_parameters_are_still_checked(visualizer: Manifest) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(visualizer, {"format": "png", "width": 50})
    assert caught.value.key == "width"
