"""POST /analyze, /analyze/{id}/file, /process, /visualize and /pipeline with the bundled plugins."""
from __future__ import annotations

import base64
import io

import aiohttp
import docx

from tests.conftest import problem_plugin

from .conftest import EXAMPLES, error_of, json_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXT = ("The export feature is broken. Customers love the dashboard, but the export times out. "
        "Export to Excel fails and the dashboard is fast.")
VTT = (EXAMPLES / "teams_en.vtt").read_text(encoding="utf-8")


def teams_docx() -> bytes:
    """A small Teams-style .docx: one paragraph per line of the sample export."""
    document = docx.Document()
    for line in (EXAMPLES / "teams_docx_export_pt.txt").read_text(encoding="utf-8").splitlines():
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def terms(result: dict) -> list[str]:
    return [row["term"] for row in result["frequencies"]]


async def test_analyze_text_is_cached_unless_asked_not_to(serve):
    served = await serve(bundled=True)
    body = {"text": TEXT, "config": {"top_n": 3}}
    async with served.session.post("/analyze/word_frequency", json=body) as r:
        first = await json_of(r)
    assert r.status == 200 and first["plugin"] == "word_frequency" and first["cached"] is False
    assert terms(first["result"]) == ["export", "dashboard", "broken"]
    async with served.session.post("/analyze/word_frequency", json=body) as r:
        second = await json_of(r)
    assert second["cached"] is True and second["result"] == first["result"]
    async with served.session.post("/analyze/word_frequency", json={**body, "cache": False}) as r:
        third = await json_of(r)
    assert third["cached"] is False and third["result"] == first["result"]
    assert served.kernel.plugin_status("word_frequency").calls == 2


async def test_analyze_document_with_segments_reports_per_speaker(serve):
    served = await serve(bundled=True)
    document = {"id": "d1", "text": "", "language": "en", "segments": [
        {"speaker": "Ana", "text": "exports exports fail"}, {"speaker": "Bo", "text": "dashboards rock"}]}
    async with served.session.post("/analyze/word_frequency", json={"document": document}) as r:
        body = await json_of(r)
    assert set(body["result"]["speakers"]) == {"Ana", "Bo"}


async def test_process_cleans_a_transcript_and_clean_runs_it_before_an_analyzer(serve):
    served = await serve(bundled=True)
    async with served.session.post("/process/teams_cleaner", json={"text": VTT}) as r:
        processed = await json_of(r)
    assert processed["plugin"] == "teams_cleaner"
    speakers = {segment["speaker"] for segment in processed["document"]["segments"]}
    assert {"Priya Natarajan", "Tom Becker"} <= speakers

    body = {"text": VTT, "clean": True, "config": {"top_n": 5},
            "configs": {"teams_cleaner": {"remove_fillers": True}}}
    async with served.session.post("/analyze/word_frequency", json=body) as r:
        analyzed = await json_of(r)
    assert speakers == set(analyzed["result"]["speakers"])
    async with served.session.post("/analyze/word_frequency", json={**body, "configs": {"teams_cleaner": {
            "remove_fillers": "yes"}}}) as r:
        error = await error_of(r, 422, "invalid_config")
    assert error["details"]["field"] == "$.configs.teams_cleaner.remove_fillers"
    async with served.session.post("/analyze/word_frequency", json={**body, "configs": {"sentiment_viz": {}}}) as r:
        error = await error_of(r, 422, "invalid_request")
    assert error["details"]["field"] == "$.configs.sentiment_viz"


async def test_upload_a_text_file(serve):
    served = await serve(bundled=True)
    form = aiohttp.FormData()
    form.add_field("file", TEXT.encode("utf-16"), filename="notes.txt", content_type="text/plain")
    form.add_field("config", '{"top_n": 2}')
    async with served.session.post("/analyze/word_frequency/file", data=form) as r:
        body = await json_of(r)
    assert r.status == 200 and terms(body["result"]) == ["export", "dashboard"]


async def test_upload_a_teams_docx_becomes_its_paragraphs_and_the_cleaner_parses_them(serve, plugin_dir):
    problem_plugin(plugin_dir, "meta", "metadata")
    served = await serve(bundled=True)
    data = teams_docx()
    paragraphs = (EXAMPLES / "teams_docx_export_pt.txt").read_text(encoding="utf-8").splitlines()

    form = aiohttp.FormData()
    form.add_field("file", data, filename="../../etc/reuniao.docx",
                   content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    form.add_field("language", "pt")
    form.add_field("raw", "true")
    async with served.session.post("/analyze/meta/file", data=form) as r:
        seen = (await json_of(r))["result"]
    assert seen["echo"] == "\n".join(paragraphs) and seen["language"] == "pt"
    assert seen["metadata"]["filename"] == "reuniao.docx"  # the client's path is dropped
    assert seen["metadata"]["source_format"] == "docx" and seen["metadata"]["paragraphs"] == len(paragraphs)
    assert seen["metadata"]["transcript"] == "teams_docx" and "content_base64" not in seen["metadata"]

    form = aiohttp.FormData()
    form.add_field("file", data, filename="reuniao.docx")
    form.add_field("config", '{"top_n": 5}')
    async with served.session.post("/analyze/word_frequency/file", data=form) as r:
        result = (await json_of(r))["result"]
    assert {"Ana Souza", "Carlos Lima", "Beatriz Rocha"} <= set(result["speakers"])  # cleaned by default
    assert "frete" in terms(result)


async def test_upload_form_errors(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    cases = [({"config": "{top_n"}, 400, "malformed_body"), ({"config": "[1]"}, 422, "invalid_request"),
             ({"cache": "maybe"}, 422, "invalid_request"), ({"colour": "red"}, 422, "invalid_request"),
             ({"language": "fr"}, 422, "invalid_request")]
    for fields, status, code in cases:
        form = aiohttp.FormData()
        form.add_field("file", b"some text", filename="a.txt")
        for name, value in fields.items():
            form.add_field(name, value)
        async with served.session.post("/analyze/echo/file", data=form) as r:
            await error_of(r, status, code)
    form = aiohttp.FormData()
    form.add_field("config", "{}")
    form.add_field("other", b"x", filename="a.txt")
    async with served.session.post("/analyze/echo/file", data=form) as r:
        error = await error_of(r, 422, "invalid_request")
    assert error["details"]["field"] == "file"


async def test_visualize_png_svg_and_json(serve):
    served = await serve(bundled=True)
    async with served.session.post("/visualize/wordcloud_viz", json={"text": TEXT, "format": "png"}) as r:
        png = await r.read()
    assert r.status == 200 and r.headers["Content-Type"] == "image/png" and png.startswith(PNG_MAGIC)
    assert r.headers["X-Request-ID"]

    async with served.session.post("/visualize/wordcloud_viz", json={"text": TEXT, "config": {"format": "svg"}}) as r:
        svg = await r.text()
    assert r.status == 200 and r.headers["Content-Type"] == "image/svg+xml" and "<svg" in svg

    async with served.session.post("/visualize/wordcloud_viz", json={"text": TEXT, "format": "png"},
                                   headers={"Accept": "application/json"}) as r:
        body = await json_of(r)
    assert body["format"] == "png" and body["media_type"] == "image/png" and body["cached"] is True
    assert base64.b64decode(body["data"]) == png and body["size"] == len(png)


async def test_visualize_from_inputs_and_with_clean(serve):
    served = await serve(bundled=True)
    async with served.session.post("/analyze/word_frequency", json={"text": TEXT}) as r:
        frequencies = (await json_of(r))["result"]
    body = {"inputs": {"word_frequencies": frequencies}, "format": "svg", "config": {"max_words": 5}}
    async with served.session.post("/visualize/wordcloud_viz", json=body) as r:
        assert r.status == 200 and "<svg" in await r.text()
    async with served.session.post("/visualize/frequency_chart", json={"text": VTT, "clean": True, "format": "html",
                                                                       "configs": {"word_frequency": {"top_n": 5}}}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<html" in (await r.text()).lower()


async def test_visualize_errors(serve):
    served = await serve(bundled=True)
    cases = [({"text": TEXT, "format": "html"}, "invalid_config", "$.format"),
             ({"text": TEXT, "format": "png", "config": {"format": "svg"}}, "invalid_request", "$.format"),
             ({"text": TEXT, "format": "gif"}, "invalid_request", "$.format"),
             ({"config": {"width": 10}}, "invalid_request", "$.text"),
             ({"text": TEXT, "config": {"width": 10}}, "invalid_config", "$.config.width"),
             ({"inputs": {"sentiment": {}}}, "invalid_input", None)]
    for body, code, field in cases:
        async with served.session.post("/visualize/wordcloud_viz", json=body) as r:
            error = await error_of(r, 422, code)
        if field is not None:
            assert error["details"]["field"] == field, (body, error)
    assert served.kernel.plugin_status("wordcloud_viz") is None  # nothing ran


async def test_pipeline_returns_every_step(serve):
    served = await serve(bundled=True)
    pipeline = {"name": "review", "steps": [
        {"plugin": "teams_cleaner"},
        {"plugin": "word_frequency", "config": {"top_n": 5}},
        {"plugin": "wordcloud_viz", "id": "cloud", "config": {"format": "png", "width": 300, "height": 200}}]}
    async with served.session.post("/pipeline", json={"pipeline": pipeline, "text": VTT}) as r:
        run = await json_of(r)
    assert run["pipeline"] == "review"
    assert [step["id"] for step in run["steps"]] == ["teams_cleaner", "word_frequency", "cloud"]
    assert run["steps"][0]["document"]["segments"]
    assert len(run["steps"][1]["result"]["frequencies"]) == 5
    figure = run["steps"][2]["figure"]
    assert figure["format"] == "png" and base64.b64decode(figure["data"]).startswith(PNG_MAGIC)

    bad = {"steps": [{"plugin": "word_frequency"}, {"plugin": "wordcloud_viz", "config": {"format": "gif"}}]}
    async with served.session.post("/pipeline", json={"pipeline": bad, "text": VTT}) as r:
        error = await error_of(r, 422, "invalid_pipeline")
    assert error["details"]["field"] == "$.pipeline.steps[1].config.format"
    async with served.session.post("/pipeline", json={"pipeline": {"steps": [{"plugin": "nope"}]}, "text": "x"}) as r:
        error = await error_of(r, 422, "invalid_pipeline")
    assert "unknown plugin 'nope'" in error["message"] and error["details"]["field"] == "$.pipeline.steps[0]"
    async with served.session.post("/pipeline", json={"pipeline": {"steps": []}, "text": "x"}) as r:
        await error_of(r, 422, "invalid_pipeline")
    async with served.session.post("/pipeline", json={"pipeline": {"steps": [{"plugn": "x"}]}, "text": "x"}) as r:
        error = await error_of(r, 422, "invalid_request")
    assert error["details"]["field"] == "$.pipeline.steps[0].plugn"
