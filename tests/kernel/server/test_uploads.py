"""Uploads through a real server: every kind of file read by kernel.readers or refused with 413/415/422 naming it;
a .docx zip bomb refused on both sides (the reader, and teams_cleaner given the bytes); and one transcript
gives the same word frequencies through the CLI, the pipeline, visualize's dependency path and the API."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import EXAMPLES
from tests.kernel.readers.samples import write_folder, zip_bomb

from .conftest import error_of, json_of

QUALIA = str(Path(sys.executable).parent / "qualia")
SMALL_LIMIT = 4 * 1024 * 1024


async def upload(served, path: Path, plugin: str = "word_frequency", **fields: str) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", path.read_bytes(), filename=path.name)
    for name, value in fields.items():
        form.add_field(name, value)
    return await served.session.post(f"/analyze/{plugin}/file", data=form)


def terms(result: dict) -> list[str]:
    return [row["term"] for row in result["frequencies"]]


async def test_every_kind_of_upload(serve, tmp_path):
    served = await serve(bundled=True)
    files = write_folder(tmp_path / "inputs")
    results = {}
    for role in ("latin1", "cp1252", "utf16", "docx", "pdf"):
        async with await upload(served, files[role]) as r:
            results[role] = (await json_of(r))["result"]
        assert r.status == 200
    assert results["latin1"] == results["utf16"] == results["docx"]
    assert {"ligação", "fácil", "ótima"} <= set(terms(results["latin1"]))
    assert "satisfação" in terms(results["pdf"]) and "excelente" in terms(results["cp1252"])

    async with await upload(served, files["csv"], text_column="answer") as r:
        rows = await json_of(r)
    assert [row["id"] for row in rows["documents"]] == ["pesquisa-1", "pesquisa-3"]
    assert rows["documents"][1]["metadata"]["columns"] == {"respondent": "r3", "age": "28"}
    assert "qualidade" in terms(rows["documents"][1]["result"])

    for role, status, code, reason in (("binary", 415, "unsupported_format", "binary data"),
                                       ("empty", 422, "empty_input", "empty"),
                                       ("scan", 422, "no_text_layer", "no text layer"),
                                       ("csv", 422, "unreadable_input", "text_column")):
        async with await upload(served, files[role]) as r:
            error = await error_of(r, status, code)
        assert error["details"]["file"] == files[role].name and reason in error["message"], error
    assert served.kernel.plugin_status("word_frequency").calls == 7  # 5 files, 2 rows; refused files never ran


async def test_a_docx_zip_bomb_is_refused_by_the_reader_and_by_the_cleaner(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("QUALIA_MAX_UNPACKED_BYTES", str(SMALL_LIMIT))  # plugins inherit it
    served = await serve(bundled=True, max_unpacked_bytes=SMALL_LIMIT)
    bomb = tmp_path / "bomba.docx"
    bomb.write_bytes(zip_bomb(3 * SMALL_LIMIT))  # 12 MiB inflated from a few KB
    async with await upload(served, bomb) as r:
        error = await error_of(r, 413, "input_too_large")
    assert "bomba.docx" in error["message"] and "QUALIA_MAX_UNPACKED_BYTES" in error["message"]

    document = {"text": "", "metadata": {"filename": "bomba.docx",
                                         "content_base64": base64.b64encode(bomb.read_bytes()).decode()}}
    async with served.session.post("/process/teams_cleaner", json={"document": document}) as r:
        error = await error_of(r, 422, "invalid_input")
    assert "zip bomb" in error["message"] and "QUALIA_MAX_UNPACKED_BYTES" in error["message"]
    assert served.kernel.plugin_status("teams_cleaner").failures == 0  # the caller's fault, not a crash


async def cli(home: Path, *args: str) -> str:
    env = {**os.environ, "QUALIA_HOME": str(home), "QUALIA_PLUGIN_PATH": ""}
    process = await asyncio.create_subprocess_exec(QUALIA, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_one_transcript_gives_the_same_numbers_through_every_door(serve, tmp_path):
    vtt = EXAMPLES / "teams_pt.vtt"
    served = await serve(bundled=True)
    from_cli = json.loads(await cli(tmp_path / "home", "analyze", str(vtt), "-p", "word_frequency", "--json"))

    only_counting = tmp_path / "count.toml"
    only_counting.write_text('[[steps]]\nplugin = "word_frequency"\n', encoding="utf-8")
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[[steps]]\nplugin = "teams_cleaner"\nconfig = { remove_system_lines = true, '
                        'remove_fillers = true }\n\n[[steps]]\nplugin = "word_frequency"\n', encoding="utf-8")
    pipelines = []
    for spec in (only_counting, explicit):
        out = tmp_path / spec.stem
        await cli(tmp_path / "home", "pipeline", str(vtt), "-f", str(spec), "-o", str(out))
        [run] = json.loads((out / "results.json").read_text(encoding="utf-8"))
        pipelines.append(next(step["result"] for step in run["steps"] if step["plugin"] == "word_frequency"))

    async with served.session.post("/analyze/word_frequency", json={"text": vtt.read_text(encoding="utf-8")}) as r:
        from_json = (await json_of(r))["result"]
    async with await upload(served, vtt) as r:
        from_upload = (await json_of(r))["result"]
    from qualia.kernel.readers import read_documents
    [document] = read_documents(vtt)
    figure = await served.kernel.analyze("frequency_chart", document, {"format": "svg"})
    from_visualize = next(step.result for step in figure.steps if step.plugin == "word_frequency")

    assert "hum" not in terms(from_cli) and set(from_cli["speakers"]) >= {"Ana Souza", "Carlos Lima"}
    for other in (*pipelines, from_json, from_upload, from_visualize):
        assert other == from_cli
