"""The error tree is the one table of HTTP status, exit code and JSON-RPC code, and the docs show it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import qualia.kernel.pipeline  # noqa: F401  (PipelineError joins the tree)
import qualia.ops.backup  # noqa: F401  (BackupError joins the tree)
from qualia.kernel.errors import (BreakerOpen, CallerError, InvalidConfig, InvalidInput, InvalidManifest,
                                  PluginFault, PluginTimeout, QualiaError, Unavailable, error_table, translate)
from qualia.plugin_sdk.errors import InputError, InternalError, MethodNotFound, RpcError
from qualia.plugin_sdk.manifest import ConfigError, ManifestError

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
START = "<!-- error-table: generated from qualia.kernel.errors.error_table(); tests/kernel/test_errors.py keeps it current -->"
END = "<!-- end error-table -->"


def render_table() -> str:
    lines = ["| class | HTTP | code | exit | JSON-RPC |", "| --- | --- | --- | --- | --- |"]
    for depth, cls in error_table():
        name = "&nbsp;&nbsp;" * depth + f"`{cls.__name__}`"
        lines.append(f"| {name} | {cls.status} | `{cls.code}` | {cls.exit_code} | {cls.rpc_code} |")
    return "\n".join(lines)


def test_the_docs_show_the_current_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    body = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    assert body is not None, f"{DOC} lost its table markers"
    expected = render_table()
    if body.group(1).strip() != expected:
        pytest.fail(f"{DOC} is out of date; the table between the markers should be:\n{expected}")


@pytest.mark.parametrize("depth_and_class", error_table(), ids=lambda row: row[1].__name__)
def test_every_class_maps_consistently(depth_and_class: tuple[int, type[QualiaError]]) -> None:
    _, cls = depth_and_class
    if issubclass(cls, CallerError):
        assert 400 <= cls.status < 500 and cls.exit_code == 2 and cls.rpc_code == -32602
    elif issubclass(cls, (PluginFault, Unavailable)):
        assert cls.status in (502, 503, 504) and cls.exit_code == 1
    assert re.fullmatch(r"[a-z][a-z_]*", cls.code)


def test_codes_are_unique_per_class() -> None:
    codes = {}
    for _, cls in error_table():
        if cls.code in codes and cls.code != "bad_request":  # BadRequest restates its family's code
            pytest.fail(f"{cls.__name__} and {codes[cls.code]} share the code {cls.code!r}")
        codes[cls.code] = cls.__name__


def test_sdk_errors_take_their_place_in_the_tree() -> None:
    assert isinstance(translate(InputError("too short")), InvalidInput)
    fault = translate(MethodNotFound("no such method"))
    assert isinstance(fault, PluginFault) and fault.details["rpc_code"] == -32601
    assert isinstance(translate(InternalError("boom")), PluginFault)
    assert isinstance(translate(RpcError("custom")), PluginFault)
    config = translate(ConfigError("top_n", "expected integer, got 'abc'"))
    assert isinstance(config, InvalidConfig) and config.details["field"] == "top_n" and config.exit_code == 2
    assert isinstance(translate(ManifestError("/x/plugin.toml", "missing id")), InvalidManifest)
    breaker = BreakerOpen("open")
    assert translate(breaker) is breaker
    assert translate(KeyError("x")) is None


def test_a_timeout_is_a_plugin_fault_with_its_own_status() -> None:
    assert issubclass(PluginTimeout, PluginFault) and PluginTimeout.status == 504
