"""docs/plugin-contract.md stays honest: every method, notification and manifest key is documented."""
from __future__ import annotations

from pathlib import Path

import pytest

from qualia.plugin_sdk import protocol
from qualia.plugin_sdk.manifest import Manifest, Parameter

DOC = (Path(__file__).parent.parent.parent / "docs" / "plugin-contract.md").read_text(encoding="utf-8")
NAMES = [value for name, value in vars(protocol).items() if name.startswith(("METHOD_", "NOTIFY_"))]


@pytest.mark.parametrize("name", NAMES)
def test_every_method_and_notification_is_documented(name):
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("key", [f for f in Manifest.__struct_fields__ if f != "path"])
def test_every_manifest_key_is_documented(key):
    assert f"| `{key}` |" in DOC


@pytest.mark.parametrize("key", Parameter.__struct_fields__)
def test_every_parameter_key_is_documented(key):
    assert f"`{key}`" in DOC


def test_every_run_param_is_documented():
    for field in protocol.RunParams.__struct_fields__:
        assert f'"{field}"' in DOC
