"""`qualia watch` as a real subprocess: new, changed, deleted and bad files; SIGINT stops it cleanly."""
from __future__ import annotations

import csv
import signal
import subprocess

from tests.kernel.corpus.support import QUALIA, Lines, copy_examples, current, qualia_env, run_qualia, \
    wait_for, write_pipeline


def test_watch_processes_new_and_changed_files_drops_deleted_ones_survives_bad_ones_and_stops_on_sigint(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt", "zoom_en.vtt")
    pipeline = write_pipeline(tmp_path)
    out = tmp_path / "out"
    process = subprocess.Popen([QUALIA, "watch", str(data), "-f", str(pipeline), "-o", str(out), "--workers", "1",
                                "--quiet-ms", "200"], env=qualia_env(tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = Lines(process.stdout)
    try:
        wait_for(lambda: output.has("watching"), timeout=60, what="the first round")
        assert sorted(current(out)) == ["teams_pt.vtt", "zoom_en.vtt"]
        first = current(out)["zoom_en.vtt"]["sha256"]

        (data / "new.txt").write_text("[00:00:01] Ana Souza: Chegou um arquivo novo, que ótimo.\n", encoding="utf-8")
        wait_for(lambda: "new.txt" in current(out), what="the new file")
        with open(data / "zoom_en.vtt", "a", encoding="utf-8") as handle:
            handle.write("\n00:09:00.000 --> 00:09:05.000\n<v Lena Park>A late, happy remark.</v>\n")
        wait_for(lambda: current(out)["zoom_en.vtt"]["sha256"] != first, what="the changed file")
        (data / "teams_pt.vtt").unlink()
        wait_for(lambda: "teams_pt.vtt" not in current(out), what="the deleted file to leave the index")
        assert not (out / "docs" / "teams_pt.vtt").exists()
        (data / "broken.bin").write_bytes(bytes(range(256)) * 4)
        wait_for(lambda: "broken.bin" in current(out), what="the bad file to be reported")
        assert not current(out)["broken.bin"]["ok"]
        wait_for(lambda: output.has(f"FAILED {data / 'broken.bin'}"), what="the failure line")
        (data / "after.txt").write_text("[00:00:02] Tom Becker: Still watching after a bad file.\n",
                                        encoding="utf-8")
        wait_for(lambda: "after.txt" in current(out) and current(out)["after.txt"]["ok"], what="watching on")
        wait_for(lambda: output.has("ok after.txt"), what="the corpus round to finish")

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stderr = output.finish(process)
    assert output.has("watch: stopped")
    assert "Traceback" not in stderr

    # Same results as a batch over the same folder.
    with open(out / "corpus" / "documents.csv", encoding="utf-8") as handle:
        watched = {row["document"]: row for row in csv.DictReader(handle)}
    assert set(watched) == {"zoom_en.vtt", "new.txt", "after.txt"}
    (data / "broken.bin").unlink()
    batch = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "batch_out")
    assert batch.returncode == 0, batch.stdout
    with open(tmp_path / "batch_out" / "corpus" / "documents.csv", encoding="utf-8") as handle:
        batched = {row["document"]: row for row in csv.DictReader(handle)}
    assert batched == watched
