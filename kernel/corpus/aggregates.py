"""Corpus-level results beside the per-document ones, computed from what is on disk.

`OUT/corpus/`:

| file | one row per |
| --- | --- |
| `documents.csv` | document: words, speakers, talk time, overall sentiment |
| `terms_by_document.csv` | term x document x speaker: count, relative frequency |
| `terms_by_speaker.csv` | term x speaker across meetings: count, meetings, relative frequency |
| `sentiment_by_speaker.csv` | speaker x meeting: segments, words, talk time, mean polarity, label |
| `speakers.csv` | speaker: the spellings merged into the name, meetings, segments, talk time, mean polarity |
| `speaker_stats_by_meeting.csv` | speaker x meeting: the `speaker_stats` result (talk, turns, words, ...) |
| `speaker_stats.csv` | speaker across meetings: talk time and share, turns, words, longest monologue, ... |

and `OUT/index.html`, an overview page linking every document's figures and
results, with the failures. One pass over the documents; memory holds the
per-speaker totals, not the corpus.
"""
from __future__ import annotations

import csv
import html
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .speakers import SpeakerNames
from .store import CorpusStore, IndexEntry
from .tables import COLUMNS, Row, SpeakerStatsTotals, rows

__all__ = ["write_corpus"]

CORPUS = "corpus"
OVERVIEW = "index.html"


class _SpeakerTotals:
    __slots__ = ("terms", "counted", "meetings", "segments", "talk", "polarity_sum", "scored")

    def __init__(self) -> None:
        self.terms: Counter[str] = Counter()
        self.counted = 0
        self.meetings: set[str] = set()
        self.segments = 0
        self.talk = 0.0
        self.polarity_sum = 0.0
        self.scored = 0


def write_corpus(store: CorpusStore, names: SpeakerNames, *, title: str = "Qualia corpus") -> Path:
    """Write OUT/corpus/*.csv and OUT/index.html; return the overview page."""
    folder = store.out / CORPUS
    folder.mkdir(parents=True, exist_ok=True)
    speakers: dict[str, _SpeakerTotals] = {}
    term_meetings: dict[tuple[str, str], int] = Counter()
    overview_rows: list[str] = []
    speaker_stats = SpeakerStatsTotals()
    with _Tables(folder) as tables:
        for record in store.documents():
            for row in rows("documents", (record,), names):
                tables.write("documents", COLUMNS["documents"], row)
                overview_rows.append(_overview_row(store.out, record, row))
            for row in rows("terms", (record,), names):
                tables.write("terms_by_document", COLUMNS["terms"], row)
                _, speaker, term, count, _ = row
                totals = speakers.get(speaker) or speakers.setdefault(speaker, _SpeakerTotals())
                totals.terms[term] += count
                term_meetings[(speaker, term)] += 1
            words = record.artefact("word_frequencies") or {}
            for spelling, summary in (words.get("speakers") or {}).items():
                name = names(spelling)
                totals = speakers.get(name) or speakers.setdefault(name, _SpeakerTotals())
                totals.counted += int(summary.get("counted_tokens") or 0)
            for row in rows("speakers", (record,), names):
                tables.write("sentiment_by_speaker", COLUMNS["speakers"], row)
                document, speaker, segments, _, talk, polarity, _ = row
                totals = speakers.get(speaker) or speakers.setdefault(speaker, _SpeakerTotals())
                totals.meetings.add(document)
                totals.segments += segments
                totals.talk += talk
                if polarity is not None:
                    totals.polarity_sum += polarity * segments
                    totals.scored += segments
            for row in rows("speaker_stats_by_meeting", (record,), names):
                tables.write("speaker_stats_by_meeting", COLUMNS["speaker_stats_by_meeting"], row)
                speaker_stats.add((row,))
        for speaker, totals in sorted(speakers.items()):
            for term, count in sorted(totals.terms.items(), key=lambda kv: (-kv[1], kv[0])):
                tables.write("terms_by_speaker", ("speaker", "term", "count", "meetings", "relative"),
                             (speaker, term, count, term_meetings[(speaker, term)],
                              round(count / totals.counted, 6) if totals.counted else None))
            if speaker:
                tables.write("speakers", ("speaker", "spellings", "meetings", "segments", "talk_time_s",
                                          "polarity"),
                             (speaker, "; ".join(sorted(names.spellings.get(speaker, ()))), len(totals.meetings),
                              totals.segments, round(totals.talk, 3),
                              round(totals.polarity_sum / totals.scored, 4) if totals.scored else None))
        stats_rows = list(speaker_stats.rows())  # one per speaker: the corpus' speakers, not its size
        for row in stats_rows:
            tables.write("speaker_stats", COLUMNS["speaker_stats"], row)
        written = list(tables.files)
    failures = [entry for entry in store.current().values() if not entry.ok]
    return _write_overview(store.out, title, overview_rows, failures, len(speakers) - ("" in speakers),
                           written, stats_rows)


class _Tables:
    """Open CSV files on first use; renamed into place together at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, tuple[Any, Any]] = {}

    def write(self, name: str, header: tuple[str, ...], row: Row) -> None:
        if name not in self.files:
            handle = open(self.folder / f".{name}.csv.tmp", "w", encoding="utf-8", newline="")
            writer = csv.writer(handle)
            writer.writerow(header)
            self.files[name] = (handle, writer)
        self.files[name][1].writerow(["" if value is None else value for value in row])

    def __enter__(self) -> "_Tables":
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, (handle, _) in self.files.items():
            handle.close()
            if exc_info[0] is None:
                os.replace(self.folder / f".{name}.csv.tmp", self.folder / f"{name}.csv")


def _overview_row(out: Path, record: Any, row: tuple[Any, ...]) -> str:
    _, _, language, words, speakers, segments, talk, polarity, label = row
    folder = record.folder or ""
    links = [f'<a href="{quote(folder)}/{quote(name)}">{html.escape(step)}</a>'
             for step, name in sorted(record.figures.items())]
    links.append(f'<a href="{quote(folder)}/result.json">result.json</a>')
    polarity_text = "" if polarity is None else f"{polarity:+.3f}"
    return (f"<tr><td>{html.escape(record.key)}</td><td>{html.escape(language)}</td><td>{words}</td>"
            f"<td>{speakers}</td><td>{segments}</td><td>{talk:g}</td>"
            f"<td class='{html.escape(label or '')}'>{polarity_text} {html.escape(label or '')}</td>"
            f"<td>{' · '.join(links)}</td></tr>")


def _speaker_stats_section(stats_rows: list[Row]) -> str:
    """The speakers across the corpus (speaker_stats.csv) as a table; empty without a speaker_stats step."""
    if not stats_rows:
        return ""
    headers = ("speaker", "meetings", "talk time (s)", "share of talk", "turns", "words", "words per turn",
               "questions", "longest monologue", "overlaps", "interruptions made", "interrupted")
    body = []
    notes = []
    for row in stats_rows:
        r = dict(zip(COLUMNS["speaker_stats"], row))
        speaker, share, longest_s = r["speaker"], r["share_of_talk"], r["longest_monologue_s"]
        longest = f"{r['longest_monologue_words']} words" + ("" if longest_s is None else f", {longest_s:g} s")
        longest += f" ({html.escape(r['longest_monologue_meeting'])})"
        mark = "" if not r["note"] else "*"
        if r["note"]:
            notes.append(f"<li>* {html.escape(speaker)}: {html.escape(r['note'])}</li>")
        cells = (html.escape(speaker) + mark, r["meetings"], _cell(r["talk_time_s"]),
                 _cell(None if share is None else f"{share:.1%}"), r["turns"], r["words"], _cell(r["words_per_turn"]),
                 r["questions"], longest, _cell(r["overlaps"]), _cell(r["interruptions_made"]),
                 _cell(r["interrupted"]))
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (f'<h2>Speakers across the corpus</h2>\n<p>From each meeting\'s speaker_stats '
            f'(<a href="{CORPUS}/speaker_stats.csv">speaker_stats.csv</a>); talk time, overlaps and interruptions '
            f"only where the meeting has timestamps.</p>\n<table><thead><tr>"
            + "".join(f"<th>{header}</th>" for header in headers) + "</tr></thead><tbody>\n"
            + "\n".join(body) + "\n</tbody></table>\n"
            + (f"<ul class='notes'>{''.join(notes)}</ul>\n" if notes else ""))


def _cell(value: Any) -> str:
    return "–" if value is None else html.escape(str(value))


def _write_overview(out: Path, title: str, document_rows: list[str], failures: list[IndexEntry],
                    speakers: int, written: list[str], stats_rows: list[Row]) -> Path:
    failure_rows = "".join(
        f"<tr><td>{html.escape(entry.key)}</td><td>{html.escape(failure.step)}</td>"
        f"<td>{html.escape(failure.message)}</td></tr>" for entry in failures for failure in entry.failures())
    order = ("documents", "terms_by_document", "terms_by_speaker", "sentiment_by_speaker", "speakers",
             "speaker_stats", "speaker_stats_by_meeting")
    tables = "".join(f'<li><a href="{CORPUS}/{name}.csv">{name}.csv</a></li>' for name in order if name in written)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: .25em .6em; border-bottom: 1px solid #ddd; text-align: left; }}
.positive {{ color: #2e7d32; }} .negative {{ color: #c62828; }} .neutral {{ color: #666; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(document_rows)} documents analysed, {len(failures)} failed, {speakers} speakers;
updated {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>
<h2>Corpus tables</h2><ul>{tables}</ul>
<h2>Documents</h2>
<table><thead><tr><th>document</th><th>language</th><th>words</th><th>speakers</th><th>segments</th>
<th>talk time (s)</th><th>sentiment</th><th>figures and results</th></tr></thead>
<tbody>
{chr(10).join(document_rows)}
</tbody></table>
{_speaker_stats_section(stats_rows)}<h2>Failures</h2>
{"<table><thead><tr><th>file</th><th>step</th><th>reason</th></tr></thead><tbody>" + failure_rows +
 "</tbody></table>" if failure_rows else "<p>None.</p>"}
</body></html>
"""
    path = out / OVERVIEW
    temporary = out / f".{OVERVIEW}.tmp"
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return path
