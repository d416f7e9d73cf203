"""The kernel answers repeated calls from the SQLite cache, across restarts, without starting plugins."""
from __future__ import annotations

import pytest

from qualia.kernel.errors import InvalidInput
from qualia.plugin_sdk import Document
from tests.conftest import problem_plugin

DOC = Document(id="d", text="A ação de hoje foi ótima. A ação de ontem também.")


async def test_hit_survives_a_restart_and_starts_no_process(make_kernel):
    first = await make_kernel()
    miss = await first.execute("word_frequency", DOC, {"top_n": 5})
    assert miss.cached is False
    await first.stop()

    second = await make_kernel()
    hit = await second.execute("word_frequency", DOC, {"top_n": 5})
    assert hit.cached is True and hit.output == miss.output
    assert second.plugin_status("word_frequency") is None  # no supervisor, no process
    assert second.cache.stats().hits == 1


async def test_key_covers_config_and_document(make_kernel):
    kernel = await make_kernel()
    await kernel.execute("word_frequency", DOC, {"top_n": 5})
    assert (await kernel.execute("word_frequency", DOC, {"top_n": 6})).cached is False
    other = Document(id="d", text=DOC.text + " Mais uma.")
    assert (await kernel.execute("word_frequency", other, {"top_n": 5})).cached is False
    # Defaults are part of the canonical config: spelling one out is the same call.
    assert (await kernel.execute("word_frequency", DOC, {"top_n": 5, "ngram": 1})).cached is True


async def test_no_cache_bypasses_lookup_and_store(make_kernel):
    kernel = await make_kernel()
    assert (await kernel.execute("word_frequency", DOC, use_cache=False)).cached is False
    assert (await kernel.execute("word_frequency", DOC, use_cache=False)).cached is False
    assert kernel.cache.stats().entries == 0


async def test_failed_calls_are_not_cached(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "picky", "invalid_params")
    kernel = await make_kernel()
    for _ in range(2):
        with pytest.raises(InvalidInput):
            await kernel.execute("picky", DOC)
    assert kernel.cache.stats().entries == 0
