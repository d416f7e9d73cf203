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
