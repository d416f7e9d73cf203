"""Jobs on the corpus engine over a real server: many uploaded files, plugin progress on the SSE stream,
and a finished job exported as tidy tables or a REFI-QDA project."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import aiohttp
import openpyxl
import xmlschema

from qualia.kernel.jobs import JobSettings
from tests.conftest import EXAMPLES

from ..jobs_support import slow_plugin, wait_job
from .conftest import error_of, json_of
from .test_jobs_api import FAST, read_events, submit
from .test_webhooks import configure

SCHEMA = Path(__file__).resolve().parents[2] / "data" / "refi-qda-project-1.0.xsd"
PIPELINE = {"name": "uploads", "steps": [{"plugin": "teams_cleaner"}, {"plugin": "word_frequency"},
                                         {"plugin": "sentiment_analyzer"}]}
FILES = ("teams_pt.vtt", "zoom_en.vtt", "chat_plain_pt.txt")


def upload_form(names=FILES, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name in names:
        form.add_field("file", (EXAMPLES / name).read_bytes(), filename=name, content_type="text/plain")
    return form


async def test_many_uploaded_files_become_one_job_run_by_the_corpus_engine(serve):
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    async with served.session.post("/jobs", data=upload_form(pipeline=json.dumps(PIPELINE))) as response:
        accepted = await json_of(response)
    assert response.status == 202, accepted
    job = await wait_job(served.session, accepted["job_id"], timeout=60)
    assert job["state"] == "succeeded" and job["progress"] == {"done": 3, "total": 3, "failed": 0}
    documents = job["result"]["documents"]
    assert [document["document_id"] for document in documents] == ["teams_pt", "zoom_en", "chat_plain_pt"]
    assert [step["id"] for step in documents[0]["steps"]] == ["teams_cleaner", "word_frequency",
                                                               "sentiment_analyzer"]
    speakers = {segment["speaker"] for segment in documents[0]["steps"][0]["document"]["segments"]}
    assert "Ana Souza" in speakers


async def test_a_bad_upload_is_refused_naming_the_file_and_nothing_is_queued(serve, tmp_path):
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    form = upload_form(("teams_pt.vtt",), pipeline=json.dumps(PIPELINE))
    form.add_field("file", b"", filename="empty.txt")
    async with served.session.post("/jobs", data=form) as response:
        error = await error_of(response, 422, "empty_input")
    assert "empty.txt" in error["message"]
    form = upload_form(("teams_pt.vtt",), pipeline=json.dumps(PIPELINE))
    form.add_field("file", bytes(range(256)) * 4, filename="blob.bin")
    async with served.session.post("/jobs", data=form) as response:
        error = await error_of(response, 415, "unsupported_format")
    assert "blob.bin" in error["message"]
    async with served.session.post("/jobs", data=upload_form(pipeline=json.dumps(PIPELINE), colour="red")) as response:
        error = await error_of(response, 422)
    assert "colour" in error["message"]
    async with served.session.get("/jobs") as response:
        assert (await json_of(response))["jobs"] == []


async def test_the_sse_stream_carries_the_plugins_progress_on_a_long_document(serve):
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    lines = "".join(f"[00:{minute:02d}:{second:02d}] Ana Souza: Frase número {minute * 60 + second} foi boa.\n"
                    for minute in range(10) for second in range(60))  # 600 segments: progress every 100
    accepted = await submit(served, {"pipeline": PIPELINE, "documents": [{"id": "long", "text": lines}]})
    _, events = await read_events(served.session, accepted["job_id"])
    steps = [data for name, data in events if name == "step_progress"]
    assert steps, [name for name, _ in events]
    assert {data["step"] for data in steps} <= {"teams_cleaner", "word_frequency", "sentiment_analyzer"}
    sentiment = [data for data in steps if data["step"] == "sentiment_analyzer"]
    assert sentiment and sentiment[-1]["total"] == 600 and sentiment[-1]["document_id"] == "long"
    assert all(0 < data["done"] <= data["total"] for data in sentiment)
    assert events[-1][0] == "done" and events[-1][1]["state"] == "succeeded"


async def test_a_finished_job_exports_csv_xlsx_and_a_valid_qdpx(serve):
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    async with served.session.post("/jobs", data=upload_form(pipeline=json.dumps(PIPELINE))) as response:
        accepted = await json_of(response)
    job_id = accepted["job_id"]
    await wait_job(served.session, job_id, timeout=60)

    async with served.session.get(f"/jobs/{job_id}/export", params={"format": "csv"}) as response:
        assert response.status == 200 and response.content_type == "application/zip"
        assert f"job-{job_id}.csv.zip" in response.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert sorted(archive.namelist()) == ["documents.csv", "segments.csv", "speaker_stats.csv",
                                          "speaker_stats_by_meeting.csv", "speakers.csv", "terms.csv"]
    documents = list(csv.DictReader(io.StringIO(archive.read("documents.csv").decode("utf-8"))))
    assert [row["document"] for row in documents] == ["teams_pt", "zoom_en", "chat_plain_pt"]
    assert all(int(row["words"]) > 0 for row in documents)

    async with served.session.get(f"/jobs/{job_id}/export", params={"format": "xlsx"}) as response:
        assert response.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await response.read()), read_only=True)
    assert book.sheetnames == ["segments", "terms", "documents", "speakers", "speaker_stats_by_meeting",
                               "speaker_stats"]

    async with served.session.get(f"/jobs/{job_id}/export", params={"format": "qdpx"}) as response:
        assert response.status == 200
        project = zipfile.ZipFile(io.BytesIO(await response.read()))
    xmlschema.XMLSchema(str(SCHEMA)).validate(project.read("project.qde").decode("utf-8"))
    assert len([name for name in project.namelist() if name.startswith("Sources/")]) == 3

    async with served.session.get(f"/jobs/{job_id}/export", params={"format": "pdf"}) as response:
        await error_of(response, 422, "invalid_request")
    async with served.session.get("/jobs/nope/export", params={"format": "csv"}) as response:
        await error_of(response, 404)


async def test_exporting_a_running_job_is_a_conflict(serve, plugin_dir):
    slow_plugin(plugin_dir)
    served = await serve(setup=configure(JobSettings(**FAST)))
    accepted = await submit(served, {"plugin": "slow", "config": {"delay": 0.5}, "documents": ["a", "b", "c"]})
    async with served.session.get(f"/jobs/{accepted['job_id']}/export", params={"format": "csv"}) as response:
        error = await error_of(response, 409, "conflict")
    assert accepted["job_id"] in error["message"]
    await wait_job(served.session, accepted["job_id"])
