"""Bad input through `qualia batch`: each file is analysed or reported by name with a reason; the batch
never crashes and nothing comes back silently empty."""
from __future__ import annotations

import csv
import os
import subprocess

import docx

from tests.kernel.corpus.support import QUALIA, current, qualia_env, wait_for, write_pipeline

PORTUGUESE = ("[00:00:01] Ana Souza: A reunião de ação começou às nove horas e a avaliação foi ótima.\n"
              "[00:00:09] Carlos Lima: Não concordo, a situação é difícil e a solução não está clara.\n")


def minimal_pdf(stream: bytes) -> bytes:
    """A one-page PDF whose content stream is `stream` (text with BT/ET, or only drawing)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return body


def bad_folder(folder):
    folder.mkdir()
    (folder / "latin1.txt").write_bytes(PORTUGUESE.encode("latin-1"))
    (folder / "cp1252.txt").write_bytes((PORTUGUESE + "[00:00:20] Ana Souza: “Ótimo” – disse ela…\n")
                                        .encode("cp1252"))
    (folder / "utf16.txt").write_bytes(PORTUGUESE.encode("utf-16"))
    (folder / "text.pdf").write_bytes(minimal_pdf(b"BT /F1 12 Tf 72 720 Td (Entrevista sobre o projeto de "
                                                  b"pesquisa, tudo correu bem.) Tj ET"))
    (folder / "scan.pdf").write_bytes(minimal_pdf(b"0 0 m 200 200 l S"))
    document = docx.Document()
    document.add_paragraph("Entrevista com a equipe de vendas.")
    document.add_paragraph("A equipe gostou do novo sistema, mas o treinamento foi curto.")
    document.save(folder / "interview.docx")
    (folder / "binary.dat").write_bytes(bytes(range(256)) * 64)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "large.txt").write_text(PORTUGUESE * 4000, encoding="utf-8")  # ~0.6 MB, 8,000 segments
    (folder / "locked.txt").write_text(PORTUGUESE, encoding="utf-8")
    os.chmod(folder / "locked.txt", 0)
    os.symlink("loop_b", folder / "loop_a")
    os.symlink("loop_a", folder / "loop_b")
    os.symlink(folder, folder / "self")  # a folder loop
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    for index in range(30):  # documents read before the one deleted mid-run
        (folder / f"a{index:02d}.txt").write_text(f"[00:00:01] Ana Souza: Documento número {index}, tudo bem.\n",
                                                  encoding="utf-8")
    (folder / "zz_deleted.txt").write_text(PORTUGUESE, encoding="utf-8")


def test_every_bad_file_is_analysed_or_reported_by_name_and_the_batch_finishes(tmp_path):
    data = tmp_path / "data"
    bad_folder(data)
    pipeline = write_pipeline(tmp_path)
    out = tmp_path / "out"
    process = subprocess.Popen([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", str(out), "--workers", "1"],
                               env=qualia_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "index.jsonl").exists() and (out / "index.jsonl").stat().st_size > 0, timeout=90,
                 what="the first finished document")
        (data / "zz_deleted.txt").unlink()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stdout + stderr  # some failed; not a crash (no traceback)
    assert "Traceback" not in stderr
    entries = current(out)
    with open(out / "corpus" / "documents.csv", encoding="utf-8") as handle:
        words = {row["document"]: int(row["words"]) for row in csv.DictReader(handle)}

    for name in ("latin1.txt", "cp1252.txt", "utf16.txt", "interview.docx", "large.txt", "text.pdf"):
        assert entries[name]["ok"], (name, entries[name])
        assert words[name] > 5, (name, words)
    for name in ("latin1.txt", "cp1252.txt", "utf16.txt"):  # decoded, not mojibake
        result = (out / "docs" / name / "result.json").read_text(encoding="utf-8")
        assert "reunião" in result and "ação" in result and "situação" in result, name
    assert "pesquisa" in (out / "docs" / "text.pdf" / "result.json").read_text(encoding="utf-8")
    if os.geteuid() != 0:  # root reads a chmod 000 file
        assert not entries["locked.txt"]["ok"] and "locked.txt" in stdout
    for name, reason in (("empty.txt", "empty"), ("binary.dat", "binary"), ("scan.pdf", "text layer"),
                         ("zz_deleted.txt", "No such file")):
        assert not entries[name]["ok"], name
        assert reason in entries[name]["error"]["message"], entries[name]
        assert str(data / name) in stdout
    summary = stdout[stdout.index("summary:"):]
    for name, reason in (("loop_a", "symbolic link loop"), ("loop_b", "symbolic link loop"),
                         ("self", "symbolic link loop"), ("dangling.txt", "broken symbolic link")):
        assert str(data / name) in summary and reason in summary, (name, summary)
    assert all(entry["ok"] for key, entry in entries.items() if key.startswith("a"))
    for key, entry in entries.items():  # nothing silently empty: every ok document has words
        if entry["ok"]:
            assert words[key] > 0, key
