"""`CorpusStore`: a batch's results on disk, written as each source finishes.

```
OUT/batch.json          the pipeline (spec and fingerprint), aliases, when it last ran
OUT/index.jsonl         one line per finished source: key, path, sha256, pipeline fingerprint, ok,
                        its documents (folder, ok, error); a later line for a key replaces an earlier one
OUT/docs/<key>/         one folder per document: result.json and the figures (<step id>.<format>)
OUT/corpus/             corpus-level tables (aggregates.py)
OUT/index.html          the overview page
```

A source's files are written first (each to a temporary name, then renamed),
its index line last, in one `write` on a file opened for appending: a batch
killed at any moment leaves at worst a torn last line, which readers skip
and the next run completes. So what is on disk, not memory, says what is
done; nothing grows in memory as the corpus grows but the key -> hash map
used to skip finished sources.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from ..errors import BadOutputFolder
from .work import Failure, SourceOutcome

__all__ = ["DocumentEntry", "DocumentRecord", "CorpusStore", "IndexEntry"]

INDEX = "index.jsonl"
MANIFEST = "batch.json"
DOCS = "docs"
RESULT = "result.json"


class DocumentEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    folder: str        # relative to OUT
    ok: bool
    error: Failure | None = None


class IndexEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    key: str
    finished: float
    ok: bool                     # every document of the source succeeded
    path: str | None = None
    sha256: str = ""
    pipeline: str = ""           # the plan's fingerprint
    removed: bool = False        # the source was deleted (watch)
    documents: list[DocumentEntry] = []
    error: Failure | None = None

    def failures(self) -> list[Failure]:
        if self.error is not None:
            return [self.error]
        return [document.error for document in self.documents if document.error is not None]


class BatchManifest(msgspec.Struct, kw_only=True, omit_defaults=True):
    format: int = 1
    pipeline: dict[str, Any]             # the PipelineSpec as written
    fingerprint: str
    artefacts: dict[str, str] = {}       # artefact -> step id that provides it
    aliases: dict[str, str] = {}         # speaker alias (normalised) -> canonical name
    updated: float = 0.0


class DocumentRecord(msgspec.Struct, kw_only=True):
    """One analysed document as the tables read it: its steps and which step provides which artefact."""

    key: str                              # the document's name in every table
    source: str | None
    document_id: str
    artefacts: dict[str, str]
    steps: list[dict[str, Any]]
    figures: dict[str, str] = {}          # step id -> file name in the document's folder
    folder: str | None = None

    def step(self, step_id: str | None) -> dict[str, Any] | None:
        for step in self.steps:
            if step.get("id") == step_id:
                return step
        return None

    def artefact(self, name: str) -> dict[str, Any] | None:
        """The result of the step that provides `name` (an analyzer's), or None."""
        step = self.step(self.artefacts.get(name))
        return None if step is None else step.get("result")

    def document(self) -> dict[str, Any] | None:
        """The Document as the last document step left it (the cleaned transcript), or None."""
        last = None
        for step in self.steps:
            if step.get("document") is not None:
                last = step["document"]
        return last


_ENTRY_DECODER = msgspec.json.Decoder(IndexEntry)
_ENCODER = msgspec.json.Encoder()


class CorpusStore:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self._append_fd: int | None = None

    # ---- the batch's manifest ---------------------------------------------------------

    def open(self, manifest: BatchManifest) -> None:
        """Make OUT (or reuse a batch's OUT) and record the pipeline; refuse a folder that is something else."""
        if self.out.exists() and not self.out.is_dir():
            raise BadOutputFolder(f"{self.out}: exists and is not a folder", path=str(self.out))
        if self.out.is_dir() and any(self.out.iterdir()) and not (self.out / MANIFEST).is_file():
            raise BadOutputFolder(f"{self.out}: not empty and not a batch's output folder (no {MANIFEST}); "
                             f"choose another -o", path=str(self.out))
        try:
            (self.out / DOCS).mkdir(parents=True, exist_ok=True)
            manifest.updated = time.time()
            self._write_atomic(self.out / MANIFEST, msgspec.json.format(_ENCODER.encode(manifest), indent=2))
        except OSError as exc:
            raise BadOutputFolder(f"{self.out}: cannot write: {exc.strerror or exc}", path=str(self.out)) from None

    def manifest(self) -> BatchManifest:
        path = self.out / MANIFEST
        try:
            return msgspec.json.decode(path.read_bytes(), type=BatchManifest)
        except FileNotFoundError:
            raise BadOutputFolder(f"{self.out}: not a batch's output folder (no {MANIFEST}); run `qualia batch` "
                             f"first", path=str(self.out)) from None
        except (OSError, msgspec.DecodeError) as exc:
            raise BadOutputFolder(f"{path}: unreadable: {exc}", path=str(path)) from None

    # ---- the index ---------------------------------------------------------------------

    def entries(self) -> Iterator[IndexEntry]:
        """Every line of the index in order; a torn line (a killed batch) is skipped."""
        try:
            handle = open(self.out / INDEX, "rb")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    continue  # the last write of a killed batch
                try:
                    yield _ENTRY_DECODER.decode(line)
                except msgspec.DecodeError:
                    continue

    def current(self) -> dict[str, IndexEntry]:
        """The latest entry per key, removed sources left out, sorted by key."""
        latest: dict[str, IndexEntry] = {}
        for entry in self.entries():
            if entry.removed:
                latest.pop(entry.key, None)
            else:
                latest[entry.key] = entry
        return dict(sorted(latest.items()))

    def record(self, outcome: SourceOutcome, fingerprint: str, *, pipeline: str, artefacts: dict[str, str]
               ) -> IndexEntry:
        """Write a finished source's documents, then its index line."""
        folder = self.out / DOCS / outcome.key
        documents: list[DocumentEntry] = []
        several = len(outcome.documents) > 1
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)  # an earlier run's files for this source
        for number, document in enumerate(outcome.documents, start=1):
            target = folder / f"{number:04d}" if several else folder
            relative = PurePosixPath(DOCS, outcome.key, *([f"{number:04d}"] if several else [])).as_posix()
            if document.ok and document.run is not None:
                target.mkdir(parents=True, exist_ok=True)
                names: dict[str, str] = {}
                for step_id, data in document.figures.items():
                    name = f"{_safe(step_id)}.{document.formats.get(step_id, 'bin')}"
                    self._write_atomic(target / name, data)
                    names[step_id] = name
                head = _ENCODER.encode({"key": outcome.key + (f"#{number}" if several else ""),
                                        "source": outcome.path, "document_id": document.document_id,
                                        "pipeline": pipeline, "fingerprint": fingerprint, "artefacts": artefacts,
                                        "figures": names, "folder": relative})
                self._write_atomic(target / RESULT, head[:-1] + b',"run":' + bytes(document.run) + b"}")
            documents.append(DocumentEntry(id=document.document_id, folder=relative, ok=document.ok,
                                           error=_brief(document.error)))
        entry = IndexEntry(key=outcome.key, path=outcome.path, sha256=outcome.sha256, pipeline=fingerprint,
                           ok=outcome.ok, documents=documents, error=_brief(outcome.error), finished=time.time())
        self._append(entry)
        return entry

    def remove(self, key: str) -> None:
        """A source that is gone: its results leave the folder and the index."""
        shutil.rmtree(self.out / DOCS / key, ignore_errors=True)
        self._append(IndexEntry(key=key, ok=False, removed=True, finished=time.time()))

    def compact(self) -> None:
        """Rewrite the index with one line per current source (atomic)."""
        lines = b"".join(_ENCODER.encode(entry) + b"\n" for entry in self.current().values())
        self.close()
        self._write_atomic(self.out / INDEX, lines)

    def documents(self) -> Iterator[DocumentRecord]:
        """Every analysed document of the current index, in key order, read from disk one at a time."""
        for entry in self.current().values():
            for document in entry.documents:
                if not document.ok:
                    continue
                path = self.out / document.folder / RESULT
                try:
                    raw = msgspec.json.decode(path.read_bytes())
                except (OSError, msgspec.DecodeError):
                    continue  # rewritten by a run in progress, or removed by hand
                yield DocumentRecord(key=raw["key"], source=raw.get("source"), document_id=raw["document_id"],
                                     artefacts=raw.get("artefacts", {}), steps=raw["run"]["steps"],
                                     figures=raw.get("figures", {}), folder=document.folder)

    # ---- files -------------------------------------------------------------------------

    def _append(self, entry: IndexEntry) -> None:
        if self._append_fd is None:
            path = self.out / INDEX
            self._append_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._append_fd).st_size
            if size:
                with open(path, "rb") as handle:  # a torn last line must not swallow the next one
                    handle.seek(size - 1)
                    if handle.read(1) != b"\n":
                        os.write(self._append_fd, b"\n")
        os.write(self._append_fd, _ENCODER.encode(entry) + b"\n")

    def close(self) -> None:
        if self._append_fd is not None:
            os.close(self._append_fd)
            self._append_fd = None

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)


def _brief(failure: Failure | None) -> Failure | None:
    """A failure for the index: step, code and message (stderr tails stay out of the index)."""
    return None if failure is None else Failure(step=failure.step, code=failure.code, message=failure.message)


def _safe(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._")
    return cleaned[:100] or "figure"
