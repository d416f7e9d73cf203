"""The bundled plugins folder: helper packages sit beside the plugins and are never taken for one."""
from __future__ import annotations

import subprocess
import sys

from qualia.kernel.registry import BUNDLED_PLUGINS, Registry

HELPERS = ("_charts", "_text")


def test_helper_packages_are_not_discovered_as_plugins() -> None:
    registry = Registry(entry_points=False)
    registry.reload()
    for helper in HELPERS:
        assert (BUNDLED_PLUGINS / helper / "__init__.py").is_file()
        assert not (BUNDLED_PLUGINS / helper / "plugin.toml").exists()
    assert registry.problems == []
    folders = {manifest.path for manifest in registry}
    assert not any(helper in str(folder) for folder in folders for helper in HELPERS)
    assert {"concordance", "collocations", "keyness", "speaker_stats", "readability", "kwic_view",
            "keyness_chart", "speaker_stats_chart"} <= {manifest.id for manifest in registry}


def test_the_sdk_carries_no_chart_helpers_and_does_not_load_matplotlib() -> None:
    code = ("import sys, importlib.util, qualia.plugin_sdk as sdk\n"
            "assert importlib.util.find_spec('qualia.plugin_sdk.charts') is None\n"
            "assert importlib.util.find_spec('qualia.plugin_sdk.mpl') is None\n"
            "assert 'matplotlib' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
