"""Chunks: a Dask task carries several documents, and a document that kills its worker inside a chunk is still
reported alone while the chunk's other documents succeed, each once in the index. A real LocalCluster."""
from __future__ import annotations

import asyncio

import pytest

from tests.kernel.corpus.support import current, index_lines
from tests.kernel.corpus.test_batch_cluster import killer_corpus

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(240)


def test_a_poison_document_inside_a_chunk_is_reported_alone_and_its_chunk_mates_succeed(tmp_path, monkeypatch):
    from qualia.kernel.corpus import run_batch
    from qualia.kernel.corpus.dask_executor import DaskExecutor, open_cluster
    from qualia.kernel.settings import Settings

    # The poison document sorts among the fine ones, so it shares a chunk with them.
    plugins, data, pipeline = killer_corpus(tmp_path, [f"fine{number:02d}.txt" for number in range(11)], "fine05b.txt")
    monkeypatch.setenv("QUALIA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUALIA_PLUGIN_PATH", str(plugins))
    settings = Settings.from_env()
    out = tmp_path / "out"

    async def batch() -> tuple[object, DaskExecutor]:
        async with open_cluster("local:2", settings, chunk=4) as executor:
            return await run_batch([data], pipeline, out, settings=settings, executor=executor, workers=1), executor

    # Dask gives up on a task at the first worker it kills (default: the fourth), so the test restarts few workers
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        report, executor = asyncio.run(batch())
    assert executor.chunks[4] == 3, executor.chunks  # 12 sources in chunks of 4 first, then the suspects alone
    assert set(executor.chunks) == {1, 4}
    assert report.processed == 12 and report.failed == 1 and report.succeeded == 11, "each source once"
    [failure] = report.failures
    assert failure.file.endswith("fine05b.txt") and failure.step == "worker"
    assert "also when it ran alone" in failure.message
    entries = current(out)
    assert sorted(key for key, entry in entries.items() if entry["ok"]) == [f"fine{n:02d}.txt" for n in range(11)]
    assert entries["fine05b.txt"]["error"]["code"] == "worker_lost"
    assert len(index_lines(out)) == 12
