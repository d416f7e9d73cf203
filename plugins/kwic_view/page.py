"""The KWIC page: plain HTML tables, a little CSS and an inline script that re-sorts the rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qualia.plugin_sdk.text import tokenize
from qualia.plugins._charts.report import OKABE_ITO, titled
from qualia.plugins._charts.svg import esc

if TYPE_CHECKING:
    from . import ConcordanceResult

LABELS: dict[str, dict[str, Any]] = {
    "en": {"title": "Concordance of “{word}”", "summary": "{hits} hits in {words} words ({rate} per 1,000 words).",
           "lemma": "Any form of the lemma(s) of the query.", "regex": "Regular expression.",
           "truncated": "Only the first {shown} lines are shown.", "by_speaker": "Hits by speaker",
           "speaker": "Speaker", "hits": "Hits", "words": "Words", "rate": "Per 1,000 words", "time": "Time",
           "left": "Left context", "node": "Node", "right": "Right context", "order": "Order:", "lines": "Lines",
           "sorts": {"position": "text", "left": "left context", "right": "right context", "node": "node"},
           "none": "No hits."},
    "pt": {"title": "Concordância de “{word}”",
           "summary": "{hits} ocorrências em {words} palavras ({rate} por 1.000 palavras).",
           "lemma": "Qualquer forma do(s) lema(s) da busca.", "regex": "Expressão regular.",
           "truncated": "Só as primeiras {shown} linhas aparecem.", "by_speaker": "Ocorrências por participante",
           "speaker": "Participante", "hits": "Ocorrências", "words": "Palavras", "rate": "Por 1.000 palavras",
           "time": "Tempo", "left": "Contexto à esquerda", "node": "Nó", "right": "Contexto à direita",
           "lines": "Linhas",
           "order": "Ordem:", "sorts": {"position": "texto", "left": "contexto à esquerda",
                                        "right": "contexto à direita", "node": "nó"},
           "none": "Nenhuma ocorrência."},
}

CSS = f"""
body{{margin:0;padding:16px;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#222;background:#fff}}
h1{{font-size:20px;margin:0 0 6px}} h2{{font-size:16px;margin:18px 0 6px}}
p{{margin:4px 0;font-size:14px}}
table{{border-collapse:collapse;font-size:14px}}
th,td{{padding:3px 8px;border-bottom:1px solid #e3e3e3;vertical-align:top}}
th{{text-align:left;background:#f4f4f4}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
table.kwic{{width:100%;table-layout:fixed}}
table.kwic td.left{{text-align:right;white-space:nowrap;overflow:hidden;direction:rtl}}
table.kwic td.left span{{direction:ltr;unicode-bidi:embed}}
table.kwic td.right{{white-space:nowrap;overflow:hidden}}
table.kwic td.node{{text-align:center;white-space:nowrap;font-weight:700;color:{OKABE_ITO["blue"]}}}
table.kwic col.n{{width:3em}} table.kwic col.who{{width:9em}} table.kwic col.t{{width:4.5em}}
table.kwic col.node{{width:10em}}
.sorts button{{font:inherit;font-size:13px;margin-left:4px;padding:2px 8px;border:1px solid #999;background:#fff;
border-radius:3px;cursor:pointer}}
.sorts button[aria-pressed=true]{{background:{OKABE_ITO["blue"]};color:#fff;border-color:{OKABE_ITO["blue"]}}}
@media print{{.sorts{{display:none}}}}
"""

# Re-sorts the rows by their data-* keys (computed on the server, so every browser sorts the same way).
JS = """
(function () {
  var body = document.querySelector("table.kwic tbody");
  if (!body) { return; }
  var buttons = document.querySelectorAll(".sorts button");
  function sortBy(key) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
      var c = key === "order" ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
      return c || Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.value === key)); });
  }
  buttons.forEach(function (b) { b.addEventListener("click", function () { sortBy(b.value); }); });
})();
"""


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def number(value: float, language: str) -> str:
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if not float(value).is_integer() else f"{int(value):,}"
    return text.translate(str.maketrans(",.", ".,")) if language == "pt" else text


def kwic_page(data: "ConcordanceResult", language: str, source: str, title: str) -> str:
    words = LABELS[language]
    heading = title or titled(words["title"].format(word=data.query.word), source)
    notes = [words["summary"].format(hits=number(data.hits, language), words=number(data.words, language),
                                     rate=number(data.per_1000_words, language))]
    if data.query.lemmas:
        notes.append(words["lemma"])
    if data.query.match == "regex":
        notes.append(words["regex"])
    if data.truncated:
        notes.append(words["truncated"].format(shown=len(data.lines)))
    parts = [f"<h1>{esc(heading)}</h1>", *(f"<p>{esc(note)}</p>" for note in notes)]
    if data.speakers:
        rows = "".join(f"<tr><td>{esc(name)}</td><td class=\"num\">{s.hits}</td><td class=\"num\">"
                       f"{number(s.words, language)}</td>"
                       f"<td class=\"num\">{number(s.per_1000_words, language)}</td></tr>"
                       for name, s in sorted(data.speakers.items(), key=lambda item: (-item[1].hits, item[0])))
        parts.append(f"<h2>{esc(words['by_speaker'])}</h2><table class=\"speakers\"><thead><tr>"
                     f"<th>{esc(words['speaker'])}</th><th>{esc(words['hits'])}</th><th>{esc(words['words'])}</th>"
                     f"<th>{esc(words['rate'])}</th></tr></thead><tbody>{rows}</tbody></table>")
    if data.lines:
        parts.append(lines_table(data, words))
    else:
        parts.append(f"<p>{esc(words['none'])}</p>")
    return ("<!DOCTYPE html>\n<html lang=\"" + language + "\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(heading)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(parts)
            + f"\n<script>{JS}</script>\n</body>\n</html>\n")


def lines_table(data: "ConcordanceResult", words: dict[str, Any]) -> str:
    buttons = "".join(f'<button type="button" value="{value}" aria-pressed="{str(sort == data.sort).lower()}">'
                      f"{esc(words['sorts'][sort])}</button>"
                      for value, sort in (("order", "position"), ("left", "left"), ("right", "right")))
    in_text = sorted(range(len(data.lines)), key=lambda i: (data.lines[i].segment, data.lines[i].offset, i))
    number_of = {index: rank for rank, index in enumerate(in_text)}  # a hit's number is its place in the text
    rows = []
    for index, line in enumerate(data.lines):
        order = number_of[index]
        left_key = " ".join(reversed(tokenize(line.left)))
        right_key = " ".join(tokenize(line.right))
        rows.append(f'<tr data-order="{order}" data-left="{esc(left_key)}" data-right="{esc(right_key)}">'
                    f'<td class="num">{order + 1}</td><td>{esc(line.speaker or "")}</td>'
                    f'<td class="num">{clock(line.start)}</td><td class="left"><span>{esc(line.left)}</span></td>'
                    f'<td class="node">{esc(line.node)}</td><td class="right">{esc(line.right)}</td></tr>')
    return (f'<h2>{esc(words["lines"])}</h2>'
            f'<p class="sorts">{esc(words["order"])}{buttons}</p>'
            '<table class="kwic"><colgroup><col class="n"><col class="who"><col class="t"><col><col class="node">'
            f'<col></colgroup><thead><tr><th>#</th><th>{esc(words["speaker"])}</th><th>{esc(words["time"])}</th>'
            f'<th style="text-align:right">{esc(words["left"])}</th><th style="text-align:center">'
            f'{esc(words["node"])}</th><th>{esc(words["right"])}</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table>")
