"""pytest fixtures for plugin authors, loaded through the `pytest11` entry point of qualia-core.

Every fixture is opt-in by name (all start with `qualia_`), and this module imports
nothing but pytest, the standard library and the SDK package (msgspec) until a
fixture is used: pytest loads it in every run of an environment where qualia-core
is installed.

- `qualia_plugin_dir`: the plugin folder under test. By default the nearest folder
  holding `plugin.toml`, from the test file's folder up to three levels above, or
  the only child of one of them that holds one; override the fixture to name another.
- `qualia_manifest`: its manifest (`qualia.plugin_sdk.Manifest`).
- `qualia_harness`: a Python SDK plugin driven in-process (`PluginHarness`).
- `qualia_process`: the plugin as a real child process (`PluginClient`), any
  language; after the test it must shut down and exit with 0.
- `qualia_kernel`: a real kernel (`KernelThread`) with the bundled plugins and the
  plugin under test, so `qualia_kernel.pipeline(text, ["teams_cleaner", "my_id"])`
  runs it behind the cleaner.
- `qualia_samples`: sample Documents (Portuguese and English, plain and segmented).

See docs/plugin-authoring.md, "Testing".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest


SEARCH_LEVELS = 4  # the test file's folder and three above: tests/ inside a plugin or a package project


def _nearest_plugin_folder(start: Path) -> Path | None:
    for folder in (start, *start.parents)[:SEARCH_LEVELS]:
        if (folder / "plugin.toml").is_file():
            return folder
        children = [child for child in folder.iterdir() if (child / "plugin.toml").is_file()] \
            if folder.is_dir() else []
        if len(children) == 1:
            return children[0]
    return None


@pytest.fixture
def qualia_plugin_dir(request: pytest.FixtureRequest) -> Path:
    """The folder of the plugin under test (override this fixture to choose it)."""
    start = Path(str(request.node.path)).resolve().parent
    found = _nearest_plugin_folder(start)
    if found is None:
        pytest.fail(f"no plugin.toml found from {start} upwards: define a `qualia_plugin_dir` fixture returning "
                    f"your plugin's folder", pytrace=False)
    return found


@pytest.fixture
def qualia_manifest(qualia_plugin_dir: Path) -> Any:
    from qualia.plugin_sdk.manifest import load_manifest

    return load_manifest(qualia_plugin_dir / "plugin.toml")


@pytest.fixture
def qualia_harness(qualia_plugin_dir: Path) -> Any:
    """The Python plugin in-process, through the real wire encoding (`PluginHarness`)."""
    from qualia.plugin_sdk.testing import PluginHarness, load_plugin_class

    try:
        plugin_cls = load_plugin_class(qualia_plugin_dir)
    except ValueError as exc:
        pytest.fail(f"qualia_harness: {exc}", pytrace=False)
    return PluginHarness(plugin_cls)


@pytest.fixture
def qualia_process(qualia_plugin_dir: Path) -> Iterator[Any]:
    """The plugin as a real child process, handshake done (`PluginClient`); checked to exit cleanly."""
    from qualia.plugin_sdk.testing import PluginClient

    client = PluginClient(qualia_plugin_dir)
    try:
        yield client
        code = client.close()
        assert code == 0, f"{client.manifest.id} exited with {code} after shutdown/exit"
    finally:
        client.kill()


@pytest.fixture
def qualia_kernel(qualia_plugin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real kernel with the bundled plugins and the plugin under test (`KernelThread`)."""
    from qualia.kernel.embedded import KernelThread

    home = tmp_path_factory.mktemp("qualia-home")
    with KernelThread(home, plugin_folders=[qualia_plugin_dir], start_timeout_s=20.0) as kernel:
        yield kernel


@pytest.fixture
def qualia_samples() -> Any:
    from qualia.plugin_sdk.samples import SAMPLE_DOCUMENTS

    return list(SAMPLE_DOCUMENTS)
