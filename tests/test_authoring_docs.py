"""docs/plugin-authoring.md stays true: its quick start runs as written, its schemas are current, and it names
every manifest key, every pytest fixture and every command and route an author uses."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qualia.plugin_sdk import pytest_plugin
from qualia.plugin_sdk.manifest import Manifest, Parameter

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "plugin-authoring.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / "scripts"))
import make_doc_schemas  # noqa: E402

sys.path.remove(str(ROOT / "scripts"))


@pytest.mark.parametrize("name", sorted(make_doc_schemas.SCHEMAS))
def test_the_json_schemas_are_generated_from_the_current_types(name: str) -> None:
    path = ROOT / "docs" / "schemas" / name
    assert path.read_text(encoding="utf-8") == make_doc_schemas.render(name), \
        f"{path} is out of date: run scripts/make_doc_schemas.py"
    assert f"schemas/{name}" in GUIDE


@pytest.mark.parametrize("key", [field for field in Manifest.__struct_fields__ if field != "path"])
def test_every_manifest_key_is_explained(key: str) -> None:
    assert f"| `{key}` |" in GUIDE


def test_every_parameter_key_and_the_document_fields_are_explained() -> None:
    for key in Parameter.__struct_fields__:
        assert f"`{key}`" in GUIDE, key
    for field in ("id", "text", "language", "metadata", "segments"):
        assert f"| `{field}` |" in GUIDE, field


def test_every_fixture_is_documented() -> None:
    fixtures = [name for name in vars(pytest_plugin) if name.startswith("qualia_")]
    assert len(fixtures) >= 6
    for name in fixtures:
        assert f"| `{name}` |" in GUIDE, name


@pytest.mark.parametrize("needle", [
    "qualia create plugin", "--package", "--lang node", "qualia plugins check", "qualia plugins search",
    "qualia plugins install", "qualia plugins reload", "qualia plugins reset-breaker", "qualia doctor ID",
    "qualia serve --reload", "POST /plugins/{id}/reload", "POST /plugins/{id}/breaker/reset", "QUALIA_PLUGIN_PATH",
    "QUALIA_PLUGIN_INDEX", "QUALIA_BREAKER_OPEN_S", "pytest11", "api = \"qualia/1\"", "word_frequency >=1.2",
    "```js", "```python", "## The cache rule", "## Reload", "## Versions", "## Packaging",
])
def test_the_guide_covers(needle: str) -> None:
    assert needle in GUIDE


def test_the_quick_start_runs_as_written() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "walkthrough_authoring.py")], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = re.search(r"`(\{\"words\": .*?\})`", GUIDE).group(1)  # the answer the guide promises
    assert f"last step: word_count -> {shown}" in done.stdout
