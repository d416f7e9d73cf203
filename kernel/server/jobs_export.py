"""`GET /jobs/{job_id}/export?format=csv|xlsx|parquet|qdpx`: a finished job's documents as tidy tables or a
REFI-QDA project, through the same exporters as `qualia export`.

xlsx and qdpx answer the file; csv and parquet (one file per table) answer a
ZIP of the files. A job still queued or running answers 409; the documents
that failed are left out (the job's own result names them).
"""
from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from ..corpus import FORMATS, DocumentRecord, SpeakerNames, export_records
from ..errors import Conflict, InvalidRequest
from .jobs_service import JOBS

__all__ = ["export_job", "job_records"]

MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "qdpx": "application/zip", "csv": "application/zip", "parquet": "application/zip"}


def job_records(outputs: list[bytes], registry: Any, document_ids: list[str]) -> list[DocumentRecord]:
    """The documents a job finished, as the table builders read them (artefacts from the manifests)."""
    seen: dict[str, int] = {}
    for document_id in document_ids:
        seen[document_id] = seen.get(document_id, 0) + 1
    records: list[DocumentRecord] = []
    for raw in outputs:
        outcome = msgspec.json.decode(raw)
        if "steps" not in outcome:
            continue
        index, document_id = outcome["index"], outcome.get("document_id") or ""
        key = document_id if document_id and seen.get(document_id) == 1 else f"{document_id or 'document'} " \
                                                                             f"({index + 1})"
        artefacts: dict[str, str] = {}
        for step in outcome["steps"]:
            manifest = registry.manifests.get(step.get("plugin"))
            for artefact in (manifest.provides if manifest is not None else ()):
                artefacts[artefact] = step["id"]
        records.append(DocumentRecord(key=key, source=None, document_id=document_id, artefacts=artefacts,
                                      steps=outcome["steps"]))
    return records


def _export(fmt: str, records: list[DocumentRecord], project: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="qualia-export-") as folder:
        target = Path(folder) / ("export." + fmt if fmt in ("xlsx", "qdpx") else "tables")
        written = export_records(fmt, records, target, names=SpeakerNames(), project=project)
        if fmt in ("xlsx", "qdpx"):
            return written[0].read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, path.name)
        return buffer.getvalue()


async def export_job(request: web.Request) -> web.Response:
    runner = request.app[JOBS].get_runner()
    job = runner.get(request.match_info["job_id"])
    fmt = request.query.get("format", "")
    if fmt not in FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", field="format")
    if not job.final:
        raise Conflict(f"job {job.id} is {job.state}; export it once it has finished", job_id=job.id,
                       state=job.state)
    spec = runner.store.spec(job.id)
    records = job_records(runner.store.outputs(job.id), runner.kernel.registry, [d.id for d in spec.documents])
    body = await asyncio.to_thread(_export, fmt, records, spec.target)
    extension = fmt if fmt in ("xlsx", "qdpx") else f"{fmt}.zip"
    return web.Response(body=body, content_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="job-{job.id}.{extension}"'})
