"""Shared inputs and checks for the visualizer tests (not a test module)."""
from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from qualia.plugin_sdk import Document, Segment
from qualia.plugin_sdk.testing import PluginHarness
from qualia.plugins.word_frequency import WordFrequency

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "examples" / "transcripts"
VTT_CUE = re.compile(r"<v ([^>]+)>(.*?)</v>")
TRICKY = "<b>&"  # a speaker name that must be escaped
SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def vtt_document(name: str) -> Document:
    """A Teams VTT transcript as a Document with speaker segments, plus one line by TRICKY with accents."""
    cues = VTT_CUE.findall((TRANSCRIPTS / name).read_text(encoding="utf-8"))
    segments = [Segment(speaker=speaker, text=text) for speaker, text in cues]
    segments.append(Segment(speaker=TRICKY, text="A reunião sobre a ação: ação, ação e reunião de novo."))
    return Document(text="\n".join(s.text for s in segments), language="pt", segments=segments)


def word_frequencies() -> dict[str, Any]:
    """Real word_frequency output for the Portuguese Teams sample."""
    return PluginHarness(WordFrequency).run(vtt_document("teams_pt.vtt"), {"top_n": 100})


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_self_contained(page: str) -> None:
    lowered = page.lower()
    for forbidden in ("http://", "https://", "//cdn", "<script src", "<link", "@import", "url("):
        assert forbidden not in lowered, forbidden
