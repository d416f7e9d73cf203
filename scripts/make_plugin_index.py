"""Write kernel/plugin-index.json, the sample plugin index shipped with qualia-core: the bundled plugins.

Run: .venv/bin/python scripts/make_plugin_index.py   (tests/kernel/test_plugin_index.py keeps it current)
"""
from __future__ import annotations

import json

from qualia.kernel.plugin_index import INDEX_FORMAT, SAMPLE_INDEX
from qualia.kernel.registry import Registry


def bundled_index() -> dict:
    registry = Registry(entry_points=False)
    registry.reload()
    return {"format": INDEX_FORMAT, "plugins": [
        {"name": m.id, "description": m.description, "kind": m.kind, "version": m.version,
         "distribution": "qualia-core", "bundled": True, "keywords": sorted({*m.provides, *m.requires})}
        for m in registry]}


def render() -> str:
    return json.dumps(bundled_index(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SAMPLE_INDEX.write_text(render(), encoding="utf-8")
    print(f"wrote {SAMPLE_INDEX}")
