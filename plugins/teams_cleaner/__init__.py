"""Transcript cleaner: parse a meeting transcript into speaker segments and clean it.

Formats (`input_format`, detected when `auto`):

| format | looks like |
| --- | --- |
| teams_vtt | WebVTT with `<v Name>text</v>` voice tags, cue ids like `3f6c…/14-0`, `NOTE` blocks |
| zoom_vtt | WebVTT whose cues read `Name: text` |
| vtt | any other WebVTT (speakers only from voice tags) |
| srt | SubRip; speakers from `Name:` when most cues have one |
| teams_docx_text | text of a Teams .docx export: `Name   0:03` (or `h:mm:ss`) header, then the text lines |
| docx | the Teams .docx file itself: text "" and `metadata.content_base64` (read with python-docx) |
| bracket_time | `[hh:mm:ss] Name: text` (name optional) |
| paren_time | `Name (hh:mm:ss): text` |
| name_colon | `Name: text`; unnamed lines right below continue the utterance |
| plain | one segment per non-empty line, no speaker, no times |

Parameters:

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| input_format | string | auto | one of the formats above, or auto |
| language | string | auto | filler language: auto (the document's, else detected), pt, en |
| remove_system_lines | boolean | true | drop meeting events: "X entrou na reunião", "X joined the meeting", … |
| remove_fillers | boolean | false | remove the language's fillers (below) and tidy the punctuation left behind |
| fillers | list of strings | [] | extra fillers, removed wherever they stand as whole words |
| fillers_mode | string | extend | extend the language's defaults with `fillers`, or replace them |
| merge_speakers | boolean | false | merge consecutive segments of the same speaker (speakerless ones never merge) |
| min_length | integer | 0 | drop segments shorter than this (0 keeps all) |
| min_length_unit | string | words | words or characters |
| speaker_case | string | keep | keep, title (particles da/de/do… stay lowercase), lower, upper |
| speaker_aliases | object | {} | {"alias": "Canonical Name"}, aliases matched case-insensitively |

Default fillers. pt: hum, hmm, ah, ahn, eh, uhm, né anywhere; tipo, tipo
assim, sabe, entendeu only when set off by punctuation. en: um, uh, uhm, hmm,
er, erm, ah anywhere; like, you know only when set off by punctuation. When the
language cannot be told: hmm, ah. Stretched spellings (hummm) count.

System lines are recognised only as whole speakerless lines, pt and en:
"X entrou na reunião" / "saiu da reunião", "X iniciou a transcrição",
"A transcrição foi iniciada", "X joined / left the meeting", "X started /
stopped transcription", "Recording started", …

Output: `segments` (speaker, start, end, text; seconds or null), `text` with
one `Speaker: text` line per segment (just the text when it has no speaker),
`language` set when it was auto and could be detected, `metadata` as given
(without `content_base64`) plus `metadata["quality"]`:

    {"format": "teams_vtt", "format_source": "auto" | "forced", "source": "text" | "docx",
     "language": "pt" | "en" | "auto",
     "timing": "start_end" | "start_only" | "none",   # start_only: talk time runs to the next start
     "segments": {"parsed": 11, "kept": 10, "merged": 0,
                  "dropped": {"system_line": 1, "too_short": 0, "empty": 0}},
     "dropped": [{"line": 7, "reason": "system_line", "speaker": null, "text": "…"}],   # first 100
     "fillers_removed": 0, "words": 180,
     "speakers": {"Ana Souza": {"segments": 3, "words": 52, "talk_time_s": 17.4}},  # talk time null if unknown
     "unparsed_count": 1,
     "unparsed_lines": [{"line": 12, "content": "… (120 chars max)", "reason": "bad cue timing"}],  # first 100
     "preamble": ["Reunião de alinhamento - Transcrição", "3 de março de 2025, 14:02"]}

Line numbers are 1-based (paragraph numbers for a .docx); `dropped[].text` is
cut at 80 characters. Steps, in order: parse; normalise speaker names; drop
system lines (speakerless only), remove fillers, drop empty and too-short
segments; merge. A segment's text is always trimmed with whitespace
collapsed; nothing else changes unless an option asks for it.

Input that is not text (binary bytes, NUL, mostly control characters,
invalid UTF-8) raises InputError (-32602); so does a text in which nothing at
all could be parsed in the chosen format (e.g. `input_format="srt"` on chat
lines). When `text` is non-empty it is parsed and `content_base64` ignored.
"""
from __future__ import annotations

from typing import Any

from qualia.plugin_sdk import Document, DocumentPlugin

from .pipeline import clean_document


class TeamsCleaner(DocumentPlugin):
    def process(self, document: Document, config: dict[str, Any]) -> Document:
        return clean_document(document, config)
