"""speaker_stats: turns, words, questions, talk time, overlaps and interruptions, on a meeting worked by hand."""
from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from qualia.plugin_sdk import Document, InvalidParams, Segment
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.speaker_stats import SpeakerStats

ROOT = Path(__file__).resolve().parents[2]
# 0-10 A; B starts at 8 while A speaks and goes on past A's end (10): B interrupts A, 2 s overlap.
# A starts at 19 while B speaks (15-20) and ends after B: A interrupts B, 1 s overlap.
# A says "uhum" 21.5-21.8 inside C's 21-22: an overlap of 0.3 s, not an interruption (C keeps the floor).
MEETING = Document(id="m", text="", language="en", segments=[
    Segment(speaker="A", start=0.0, end=10.0, text="Hello there. How are you?"),
    Segment(speaker="B", start=8.0, end=15.0, text="Fine thanks"),
    Segment(speaker="B", start=15.0, end=20.0, text="and you?"),
    Segment(speaker="A", start=19.0, end=20.5, text="ok"),
    Segment(speaker="C", start=21.0, end=22.0, text="yes"),
    Segment(speaker="A", start=21.5, end=21.8, text="uhum"),
])


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(SpeakerStats)


def test_per_speaker_figures_by_hand(harness: PluginHarness) -> None:
    result = harness.run(MEETING)
    assert result["timed"] is True
    a, b, c = (result["speakers"][name] for name in "ABC")
    # turns in document order: A | B B | A | C | A
    assert (a["turns"], b["turns"], c["turns"]) == (3, 1, 1)
    assert (a["segments"], b["segments"], c["segments"]) == (3, 2, 1)
    # words: A 5 + 1 + 1 = 7, B 2 + 2 = 4, C 1; of 12
    assert (a["words"], b["words"], c["words"]) == (7, 4, 1)
    assert a["words_per_turn"] == pytest.approx(7 / 3, abs=0.01) and b["words_per_turn"] == 4.0
    assert a["share_of_words"] == pytest.approx(7 / 12, abs=1e-4)
    assert (a["questions"], b["questions"], c["questions"]) == (1, 1, 0)
    # talk time: A 10 + 1.5 + 0.3 = 11.8 s, B 7 + 5 = 12 s, C 1 s; of 24.8 s
    assert (a["talk_time_s"], b["talk_time_s"], c["talk_time_s"]) == (11.8, 12.0, 1.0)
    assert b["share_of_talk_time"] == pytest.approx(12 / 24.8, abs=1e-4)
    assert a["words_per_minute"] == pytest.approx(7 * 60 / 11.8, abs=0.1)
    # overlaps: A-B 2 s, B-A 1 s, C-A 0.3 s
    assert (a["overlaps"], b["overlaps"], c["overlaps"]) == (3, 2, 1)
    assert a["overlap_s"] == pytest.approx(3.3) and b["overlap_s"] == pytest.approx(3.0)
    assert c["overlap_s"] == pytest.approx(0.3)
    assert (a["interruptions_made"], b["interruptions_made"], c["interruptions_made"]) == (1, 1, 0)
    assert (a["interrupted"], b["interrupted"], c["interrupted"]) == (1, 1, 0)
    # longest monologue by time: B's turn of two segments, 7 + 5 = 12 s from 8 s
    assert b["longest_turn"] == {"words": 4, "seconds": 12.0, "start": 8.0}
    assert a["longest_turn"] == {"words": 5, "seconds": 10.0, "start": 0.0}


def test_meeting_figures_by_hand(harness: PluginHarness) -> None:
    meeting = harness.run(MEETING)["meeting"]
    assert meeting["speakers"] == 3 and meeting["segments"] == 6 and meeting["turns"] == 5
    assert meeting["words"] == 12 and meeting["questions"] == 2
    # first start 0, last end 22; someone speaks in [0, 20.5] and [21, 22]: 21.5 s; silence 0.5 s
    assert (meeting["duration_s"], meeting["speech_s"], meeting["silence_s"]) == (22.0, 21.5, 0.5)
    assert meeting["talk_time_s"] == 24.8
    assert (meeting["overlaps"], meeting["overlap_s"], meeting["interruptions"]) == (3, 3.3, 2)
    assert meeting["longest_turn"] == {"speaker": "B", "words": 4, "seconds": 12.0, "start": 8.0}


def test_min_overlap_ignores_short_overlaps(harness: PluginHarness) -> None:
    result = harness.run(MEETING, {"min_overlap_s": 0.5})
    assert result["meeting"]["overlaps"] == 2 and result["speakers"]["C"]["overlaps"] == 0


def test_without_times_only_counts(harness: PluginHarness) -> None:
    document = Document(text="", segments=[Segment(speaker="A", text="one two three?"),
                                           Segment(speaker=None, text="four"),
                                           Segment(speaker="A", text="five six seven eight nine")])
    result = harness.run(document, {"unknown_speaker": "?"})
    assert result["timed"] is False
    a = result["speakers"]["A"]
    assert (a["turns"], a["words"], a["questions"]) == (2, 8, 1)
    assert a["talk_time_s"] is None and a["overlaps"] is None and a["interrupted"] is None
    assert a["longest_turn"] == {"words": 5, "seconds": None, "start": None}  # by words without times
    assert result["speakers"]["?"]["words"] == 1
    assert "duration_s" not in result["meeting"]


@pytest.mark.parametrize(("document", "named"), [
    (Document(text="no segments here"), "segments"),
    (Document(text="", segments=[Segment(speaker="A", start=5.0, end=2.0, text="x")]), "segment 0"),
])
def test_unusable_documents_are_invalid_params(harness: PluginHarness, document: Document, named: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        harness.run(document)
    assert named in caught.value.message


def test_runs_as_a_real_process() -> None:
    answers = converse(ROOT / "plugins" / "speaker_stats", [{"document": msgspec.to_builtins(MEETING), "config": {}}])
    result = answers[1]["result"]["result"]
    assert result["meeting"]["interruptions"] == 2 and result["speakers"]["B"]["talk_time_s"] == 12.0
