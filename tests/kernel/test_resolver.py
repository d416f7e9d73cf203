"""resolve_order: dependencies first, computed from provides/requires; clear errors."""
from __future__ import annotations

import pytest

from qualia.kernel.errors import ResolutionError
from qualia.kernel.registry import Registry
from qualia.kernel.resolver import resolve_order
from tests.conftest import write_plugin


def declare(root, plugin_id, provides=(), requires=(), kind="analyzer"):
    extra = f"provides = {list(provides)!r}\nrequires = {list(requires)!r}\n".replace("'", '"')
    if kind == "visualizer":
        extra += 'formats = ["png"]\n'
    write_plugin(root, plugin_id, ["{python}", "unused.py"], kind=kind, extra=extra)


def registry_of(root) -> Registry:
    registry = Registry([root], entry_points=False, bundled=None)
    registry.reload()
    assert not registry.problems, registry.problems
    return registry


def ids(order):
    return [m.id for m in order]


def test_bundled_wordcloud_needs_word_frequency_first():
    registry = Registry(entry_points=False)
    registry.reload()
    assert ids(resolve_order(registry, "wordcloud_viz")) == ["word_frequency", "wordcloud_viz"]
    assert ids(resolve_order(registry, "sentiment_viz")) == ["sentiment_analyzer", "sentiment_viz"]


def test_chain_is_ordered_and_shared_dependencies_run_once(plugin_dir):
    declare(plugin_dir, "tokens", provides=["tokens"])
    declare(plugin_dir, "freq", provides=["freq"], requires=["tokens"])
    declare(plugin_dir, "topics", provides=["topics"], requires=["tokens", "freq"])
    declare(plugin_dir, "chart", requires=["topics", "freq"], kind="visualizer")
    assert ids(resolve_order(registry_of(plugin_dir), "chart")) == ["tokens", "freq", "topics", "chart"]


def test_available_artefacts_are_not_remade(plugin_dir):
    declare(plugin_dir, "freq", provides=["freq"])
    declare(plugin_dir, "chart", requires=["freq"], kind="visualizer")
    assert ids(resolve_order(registry_of(plugin_dir), "chart", available={"freq"})) == ["chart"]


def test_missing_provider_names_the_artefact_and_the_plugin(plugin_dir):
    declare(plugin_dir, "chart", requires=["embeddings"], kind="visualizer")
    with pytest.raises(ResolutionError) as caught:
        resolve_order(registry_of(plugin_dir), "chart")
    assert "'embeddings'" in caught.value.message and "'chart'" in caught.value.message
    assert caught.value.status == 422


def test_cycle_names_the_artefacts(plugin_dir):
    declare(plugin_dir, "a", provides=["alpha"], requires=["beta"])
    declare(plugin_dir, "b", provides=["beta"], requires=["alpha"])
    declare(plugin_dir, "top", requires=["alpha"])
    with pytest.raises(ResolutionError) as caught:
        resolve_order(registry_of(plugin_dir), "top")
    message = caught.value.message
    assert "cycle" in message and "alpha" in message and "beta" in message
