"""A REFI-QDA project (`.qdpx`): what QualCoder, MAXQDA, NVivo and ATLAS.ti import.

A ZIP holding `project.qde` (XML valid against the REFI-QDA Project schema
1.0) and `Sources/<guid>.txt`:

- each document is a `TextSource`; its text is the transcript written out
  one segment per line (`[hh:mm:ss] Speaker: text`),
- each segment is a `PlainTextSelection` over its text, coded with its
  speaker's code and its sentiment label's code,
- the codebook holds two parent codes, "Speakers" (one code per speaker)
  and "Sentiment" (positive, neutral, negative),
- each speaker is also a `Case` that refers to their code and to every
  source they speak in.

GUIDs are UUID5s of the names, so exporting the same corpus twice gives the
same project. Sources are written to the ZIP as they are read, and the
selections XML to a temporary file, so memory holds only the speakers.
"""
from __future__ import annotations

import datetime
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .. import __version__
from .speakers import SpeakerNames
from .store import DocumentRecord
from .tables import SENTIMENT, _segments

__all__ = ["export_qdpx"]

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://qualia.invalid/refi-qda")
LABEL_COLOURS = {"positive": "#2E7D32", "neutral": "#9E9E9E", "negative": "#C62828"}
# Characters XML 1.0 cannot carry: dropped from the text before positions are counted.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def _clock(seconds: object) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    whole = int(seconds)
    return f"[{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}] "


def export_qdpx(records: Iterable[DocumentRecord], path: Path, *, names: SpeakerNames, project: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    user = _guid("user", "qualia")
    speaker_codes: dict[str, str] = {}
    speaker_sources: dict[str, list[str]] = {}
    labels_used: set[str] = set()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as sources_xml, \
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            source_guid = _guid("source", record.key)
            lines: list[str] = []
            selections: list[str] = []
            offset = 0
            segments = _segments(record)
            if not segments:
                document = record.document() or {}
                overall = (record.artefact(SENTIMENT) or {}).get("document") or {}
                segments = [{"text": document.get("text", ""), "label": overall.get("label")}]
            for index, segment in enumerate(segments):
                speaker = names(segment.get("speaker"))
                text = _NOT_XML.sub("", str(segment.get("text", ""))).replace("\n", " ")
                prefix = _clock(segment.get("start")) + (f"{speaker}: " if speaker else "")
                start = offset + len(prefix)
                end = start + len(text)
                lines.append(prefix + text + "\n")
                offset = end + 1
                codes = []
                if speaker:
                    code = speaker_codes.setdefault(speaker, _guid("speaker", speaker))
                    codes.append(code)
                    sources = speaker_sources.setdefault(speaker, [])
                    if not sources or sources[-1] != source_guid:
                        sources.append(source_guid)
                label = segment.get("label")
                if label in LABEL_COLOURS:
                    labels_used.add(label)
                    codes.append(_guid("sentiment", label))
                if not text or not codes:
                    continue
                selection = _guid("selection", record.key, str(index))
                codings = "".join(
                    f'<Coding guid="{_guid("coding", selection, code)}" creatingUser="{user}">'
                    f'<CodeRef targetGUID="{code}"/></Coding>' for code in codes)
                name = f"{speaker or 'text'} {_clock(segment.get('start')).strip()}".strip()
                selections.append(f'<PlainTextSelection guid="{selection}" name={quoteattr(name)} '
                                  f'startPosition="{start}" endPosition="{end}" creatingUser="{user}">'
                                  f'{codings}</PlainTextSelection>')
            archive.writestr(f"Sources/{source_guid}.txt", "".join(lines).encode("utf-8"))
            sources_xml.write(f'<TextSource guid="{source_guid}" name={quoteattr(record.key)} '
                              f'plainTextPath="internal://{source_guid}.txt" creatingUser="{user}" '
                              f'creationDateTime="{now}">' + "".join(selections) + "</TextSource>\n")
        head = [
            '<?xml version="1.0" encoding="utf-8"?>\n',
            f'<Project xmlns="urn:QDA-XML:project:1.0" name={quoteattr(project)} '
            f'origin={quoteattr(f"Qualia Core {__version__}")} creatingUserGUID="{user}" '
            f'creationDateTime="{now}">\n',
            f'<Users><User guid="{user}" name="qualia" id="QC"/></Users>\n',
            "<CodeBook><Codes>\n",
            f'<Code guid="{_guid("code", "Speakers")}" name="Speakers" isCodable="false">'
            "<Description>One code per speaker; each segment is coded with its speaker.</Description>",
            *(f'<Code guid="{code}" name={quoteattr(speaker)} isCodable="true"/>'
              for speaker, code in sorted(speaker_codes.items())),
            "</Code>\n",
            f'<Code guid="{_guid("code", "Sentiment")}" name="Sentiment" isCodable="false">'
            "<Description>The sentiment analyzer's label of each segment.</Description>",
            *(f'<Code guid="{_guid("sentiment", label)}" name="{label}" isCodable="true" '
              f'color="{colour}"/>' for label, colour in LABEL_COLOURS.items()),
            "</Code>\n</Codes></CodeBook>\n",
        ]
        if speaker_codes:
            head.append("<Cases>\n")
            for speaker, code in sorted(speaker_codes.items()):
                refs = "".join(f'<SourceRef targetGUID="{source}"/>' for source in speaker_sources[speaker])
                head.append(f'<Case guid="{_guid("case", speaker)}" name={quoteattr(speaker)}>'
                            f'<CodeRef targetGUID="{code}"/>{refs}</Case>\n')
            head.append("</Cases>\n")
        with archive.open("project.qde", "w") as qde:
            qde.write("".join(head).encode("utf-8"))
            if sources_xml.tell():  # the schema wants at least one source inside <Sources>
                sources_xml.seek(0)
                qde.write(b"<Sources>\n")
                for chunk in iter(lambda: sources_xml.read(1 << 16), ""):
                    qde.write(chunk.encode("utf-8"))
                qde.write(b"</Sources>\n")
            qde.write(f"<Description>{escape(project)}: exported by Qualia Core</Description>\n</Project>\n"
                      .encode("utf-8"))
    os.replace(temporary, path)
    return path
