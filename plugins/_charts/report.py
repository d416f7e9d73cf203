"""What a figure needs to go into a report: labels in the document's language, a title naming its
source, and colours that colour-blind readers tell apart.

Used by the newer visualizers (keyness_chart, speaker_stats_chart, kwic_view). The older charts keep
their Tableau colours so their bytes do not change.
"""
from __future__ import annotations

from typing import Any, Mapping

from qualia.plugin_sdk import Document

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {
    "blue": "#0072B2", "vermillion": "#D55E00", "bluish_green": "#009E73", "orange": "#E69F00",
    "reddish_purple": "#CC79A7", "sky_blue": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
SERIES = tuple(OKABE_ITO[name] for name in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue",
                                             "vermillion", "black", "yellow"))
"""Series colours in order of contrast on white (yellow last)."""

PLACEHOLDER_IDS = frozenset({"", "inputs", "stdin"})  # ids that name no source (a visualize call with inputs only)


def label_language(choice: str, result: Mapping[str, Any], document: Document) -> str:
    """`pt` or `en`: the configured language, else the analysis result's, else the document's, else English."""
    for candidate in (choice, result.get("language"), document.language):
        if candidate in ("pt", "en"):
            return candidate
    return "en"


def source_name(configured: str, document: Document) -> str:
    """The source a title names: the configured one, else the document's file name, else its id."""
    if configured:
        return configured
    filename = document.metadata.get("filename") if isinstance(document.metadata, dict) else None
    if isinstance(filename, str) and filename and filename not in PLACEHOLDER_IDS:
        return filename
    return "" if document.id in PLACEHOLDER_IDS else document.id


def titled(base: str, source: str) -> str:
    return f"{base} — {source}" if source else base
