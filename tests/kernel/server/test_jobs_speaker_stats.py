"""A many-document job over a real server exports speaker_stats per meeting and across its documents, the same
figures `qualia batch` gives (worked by hand in tests/kernel/corpus/speaker_stats_expected.py)."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import aiohttp

from qualia.kernel.corpus import COLUMNS
from qualia.kernel.jobs import JobSettings
from tests.kernel.corpus.speaker_stats_expected import ACROSS, BY_MEETING, MEETINGS, typed

from ..jobs_support import wait_job
from .conftest import json_of
from .test_jobs_api import FAST
from .test_webhooks import configure

# the aliases of the batch test, given to the cleaner: a job's export has no aliases file
PIPELINE = {"name": "talk", "steps": [
    {"plugin": "teams_cleaner", "config": {"remove_fillers": False, "speaker_aliases": {"Bruno R.": "Bruno Reis"}}},
    {"plugin": "speaker_stats"}]}
STEMS = {"m1.vtt": "m1", "m2.vtt": "m2", "m3.txt": "m3"}  # an uploaded file's document id is its stem


def read_table(archive: zipfile.ZipFile, table: str) -> list[tuple]:
    reader = csv.DictReader(io.StringIO(archive.read(f"{table}.csv").decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == COLUMNS[table]
    return [typed(row, COLUMNS[table]) for row in reader]


async def test_a_job_exports_speaker_stats_across_its_documents(serve) -> None:
    served = await serve(bundled=True, setup=configure(JobSettings(**FAST)))
    form = aiohttp.FormData()
    form.add_field("pipeline", json.dumps(PIPELINE))
    for name in STEMS:
        form.add_field("file", (MEETINGS / name).read_bytes(), filename=name, content_type="text/plain")
    async with served.session.post("/jobs", data=form) as response:
        accepted = await json_of(response)
    assert response.status == 202, accepted
    job = await wait_job(served.session, accepted["job_id"], timeout=60)
    assert job["state"] == "succeeded", job
    async with served.session.get(f"/jobs/{job['id']}/export", params={"format": "csv"}) as response:
        assert response.status == 200
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    across = read_table(archive, "speaker_stats")
    expected = [row[:11] + (STEMS[row[11]],) + row[12:] for row in ACROSS.values()]
    assert across == expected
    by_meeting = {(row[0], row[1]): row for row in read_table(archive, "speaker_stats_by_meeting")}
    assert by_meeting == {(STEMS[document], speaker): (STEMS[document], *row[1:])
                          for (document, speaker), row in BY_MEETING.items()}
