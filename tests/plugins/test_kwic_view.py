"""kwic_view: the concordance as a self-contained, re-sortable HTML page in the analysis' language."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from qualia.plugin_sdk import Document, InvalidParams
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.concordance import Concordance
from qualia.plugins.kwic_view import KwicView
from tests.plugins.figures import ROOT, TRICKY, assert_self_contained, vtt_document


class Rows(HTMLParser):
    """The KWIC table's rows: (data-* attributes, cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str], list[str]]] = []
        self._in_kwic = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._in_kwic = values.get("class") == "kwic"
        elif tag == "tr" and self._in_kwic and "data-order" in values:
            self.rows.append(({k[5:]: v for k, v in values.items() if k.startswith("data-")}, []))
        elif tag == "td" and self._in_kwic and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._in_kwic = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def document() -> Document:
    document = vtt_document("teams_pt.vtt")
    document.metadata = {"filename": "teams_pt.vtt"}
    return document


def concordance(document: Document, **config: Any) -> dict[str, Any]:
    return PluginHarness(Concordance).run(document, {"word": "o", **config})


def page_of(document: Document, result: dict[str, Any], **config: Any) -> str:
    figure = PluginHarness(KwicView).run(document, config, {"concordance": result})
    assert figure.media_type.startswith("text/html")
    return figure.data.decode("utf-8")


def test_the_page_shows_every_line_in_the_concordance_order(document: Document) -> None:
    result = concordance(document, sort="right")
    page = page_of(document, result)
    assert_self_contained(page)
    assert "<title>Concordância de “o” — teams_pt.vtt</title>" in page and '<html lang="pt">' in page
    parser = Rows()
    parser.feed(page)
    assert len(parser.rows) == result["hits"] == len(result["lines"])
    for (data, cells), line in zip(parser.rows, result["lines"]):
        assert cells[1:] == [line["speaker"] or "", "", line["left"], line["node"], line["right"]]
    # the hit numbers are places in the text: segment, then offset
    in_text = sorted(range(len(result["lines"])), key=lambda i: (result["lines"][i]["segment"],
                                                                   result["lines"][i]["offset"]))
    assert [int(parser.rows[i][0]["order"]) for i in in_text] == list(range(len(in_text)))
    # re-sort keys: the left context read outwards, the right context onwards, lowercased words
    data, _ = parser.rows[0]
    assert data["right"] == " ".join(re.findall(r"\w+", result["lines"][0]["right"].lower()))
    assert '<button type="button" value="right" aria-pressed="true">' in page


def test_summary_speakers_and_escaping(document: Document) -> None:
    result = concordance(document)
    page = page_of(document, result)
    assert f"{result['hits']} ocorrências em {result['words']} palavras" in page
    assert "Ocorrências por participante" in page
    assert "&lt;b&gt;&amp;" in page and TRICKY not in page


def test_english_labels_lemma_note_and_no_hits(document: Document) -> None:
    result = PluginHarness(Concordance).run(Document(text="We liked it. She likes it.", language="en"),
                                            {"word": "like", "lemmas": True})
    page = page_of(Document(id="notes", text=""), result)
    assert "Concordance of “like” — notes" in page and "Any form of the lemma" in page and "2 hits" in page
    empty = PluginHarness(Concordance).run(Document(text="nothing here", language="en"), {"word": "absent"})
    assert "No hits." in page_of(Document(text=""), empty, title="Absent")


def test_a_missing_concordance_is_invalid_params() -> None:
    with pytest.raises(InvalidParams) as caught:
        PluginHarness(KwicView).run(Document(text=""), {}, {})
    assert "concordance" in caught.value.message
    with pytest.raises(InvalidParams):
        PluginHarness(KwicView).run(Document(text=""), {"format": "png"}, {"concordance": {}})


def test_runs_as_a_real_process(document: Document) -> None:
    answers = converse(ROOT / "plugins" / "kwic_view", [
        {"document": {"text": ""}, "config": {}, "inputs": {"concordance": concordance(document)}}])
    assert answers[1]["result"]["media_type"].startswith("text/html")


async def test_the_sort_buttons_reorder_the_rows_in_a_browser(document: Document, tmp_path) -> None:
    """Debian's headless Chromium (as the dashboard test) clicks the buttons; the rows follow their keys."""
    from tests.kernel.server.test_monitor_browser import CHROMIUM, CHROMIUM_ARGS, require_browser

    async_playwright = require_browser()
    result = concordance(document, sort="position")
    page_file = tmp_path / "kwic.html"
    page_file.write_text(page_of(document, result), encoding="utf-8")
    rows_js = """() => Array.from(document.querySelectorAll("table.kwic tbody tr")).map(
        r => [Number(r.dataset.order), r.dataset.left, r.dataset.right])"""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_file.as_uri())
            initial = await page.evaluate(rows_js)
            assert [order for order, _, _ in initial] == list(range(len(initial)))  # text order
            await page.click('button[value="right"]')
            by_right = await page.evaluate(rows_js)
            assert [(right, order) for order, _, right in by_right] == sorted((r, o) for o, _, r in initial)
            assert await page.get_attribute('button[value="right"]', "aria-pressed") == "true"
            await page.click('button[value="left"]')
            by_left = await page.evaluate(rows_js)
            assert [(left, order) for order, left, _ in by_left] == sorted((l, o) for o, l, _ in initial)
            await page.click('button[value="order"]')
            assert await page.evaluate(rows_js) == initial
        finally:
            await browser.close()
