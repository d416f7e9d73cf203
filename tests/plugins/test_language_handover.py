"""Segment languages travel from the cleaner to the analyzers: lingua runs in the cleaner's processes only.

Language detection is the analyzers' largest cost (CPU, and ~107 MB per process once its models are
loaded). Through a real kernel, a transcript cleaned on its way to word_frequency and sentiment gets the
same per-segment languages as before, while the analyzers' processes never load lingua's library.
"""
from __future__ import annotations

from pathlib import Path

from qualia.kernel.readers import read_documents

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "transcripts"


def maps_lingua(kernel, plugin_id: str) -> bool:
    """Whether the kernel's running process of `plugin_id` has lingua's native library mapped."""
    (process,) = [proc for proc in kernel.plugin_status(plugin_id).processes if proc.alive]
    return "lingua" in Path(f"/proc/{process.pid}/maps").read_text()


async def test_analyzers_reuse_the_cleaner_s_segment_languages(make_kernel) -> None:
    kernel = await make_kernel()
    (document,) = read_documents(TRANSCRIPTS / "teams_pt.vtt")
    sentiment = await kernel.analyze("sentiment_analyzer", document)
    frequency = await kernel.analyze("word_frequency", document)
    cleaned = sentiment.document
    recorded = cleaned.metadata["segment_languages"]
    assert len(recorded) == len(cleaned.segments) and {pair[0] for pair in recorded} == {"pt"}
    # Each scored segment carries the language and confidence the cleaner recorded for it.
    segments = sentiment.target.result["segments"]
    assert [(s["language"], s["language_confidence"]) for s in segments] == [tuple(pair) for pair in recorded]
    assert frequency.target.result["languages"] == {"pt": len(cleaned.segments)}
    assert maps_lingua(kernel, "teams_cleaner")
    assert not maps_lingua(kernel, "sentiment_analyzer") and not maps_lingua(kernel, "word_frequency")
