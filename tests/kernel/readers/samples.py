"""Real input files of every kind the readers meet, written by the tests themselves.

Portuguese with accents in latin-1, cp1252 (curly quotes, €) and UTF-16 with
a BOM; PDFs with and without a text layer (fpdf2); Word files (python-docx);
a binary file, an empty one, a CSV of survey answers; a .docx zip bomb.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import docx
from fpdf import FPDF

INTERVIEW_PT = ("Entrevistadora: Como foi a experiência com o atendimento?\n"
                "Participante: Não foi fácil. A ligação caiu três vezes, mas a atendente foi educada.\n"
                "Entrevistadora: E o preço? Você acha justo?\n"
                "Participante: Acho caro, porém a qualidade é ótima e a ação rápida.\n")
CP1252_EXTRA = "Ela disse “excelente” e pagou 30 € — sem reclamações.\n"
PDF_TEXT = "Relatório da pesquisa: a satisfação aumentou.\nAs reclamações sobre preço diminuíram."
SURVEY_CSV = ("respondent;age;answer\n"
              "r1;34;O atendimento foi ótimo e rápido.\n"
              "r2;51;\n"
              "r3;28;Preço alto, mas a qualidade compensa.\n")


def words(text: str) -> list[str]:
    return [token.strip(".,?!:;“”—€") for token in text.split() if token.strip(".,?!:;“”—€")]


def pdf_bytes(text: str | None) -> bytes:
    """A one-page PDF; with `text` None the page holds only a filled rectangle (a scan has no text layer)."""
    pdf = FPDF()
    pdf.add_page()
    if text is None:
        pdf.rect(10, 10, 100, 60, style="F")
    else:
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bomb(inflated_bytes: int) -> bytes:
    """A valid .docx whose word/document.xml inflates to `inflated_bytes` (about 1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes(["capa"]))) as source, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            if info.filename == "word/document.xml":
                body = source.read(info)
                head, tail = body.split(b"<w:body>", 1)
                padding = b" " * max(0, inflated_bytes - len(body))
                bomb.writestr(info.filename, head + b"<w:body>" + padding + tail)
            else:
                bomb.writestr(info, source.read(info))
    return buffer.getvalue()


def write_folder(folder: Path) -> dict[str, Path]:
    """Every kind of input in one folder; returns them by role."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "latin1": ("entrevista_latin1.txt", INTERVIEW_PT.encode("latin-1")),
        "cp1252": ("entrevista_cp1252.txt", (INTERVIEW_PT + CP1252_EXTRA).encode("cp1252")),
        "utf16": ("entrevista_utf16.txt", INTERVIEW_PT.encode("utf-16")),
        "pdf": ("relatorio.pdf", pdf_bytes(PDF_TEXT)),
        "scan": ("digitalizado.pdf", pdf_bytes(None)),
        "docx": ("entrevista.docx", docx_bytes(INTERVIEW_PT.splitlines())),
        "binary": ("imagem.bin", b"\x89PNG\r\n\x1a\n" + os.urandom(4000)),
        "empty": ("vazio.txt", b""),
        "csv": ("pesquisa.csv", SURVEY_CSV.encode("cp1252")),
    }
    paths = {}
    for role, (name, data) in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[role] = path
    return paths
