"""`qualia batch` through the real console script: results on disk, exit codes, resume, workers."""
from __future__ import annotations

import csv
import json

from tests.kernel.corpus.support import copy_examples, current, index_lines, run_qualia, write_pipeline


def test_a_folder_becomes_one_result_folder_per_document_an_index_corpus_tables_and_an_overview(tmp_path):
    data = copy_examples(tmp_path / "data")
    (data / "nested").mkdir()
    (data / "nested" / "chat.txt").write_text("[00:00:01] Ana Souza: A entrega foi ótima, adorei.\n"
                                              "[00:00:09] Tom Becker: Terrible delay, very bad.\n",
                                              encoding="utf-8")
    pipeline = write_pipeline(tmp_path, figure=True)
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    entries = current(out)
    assert sorted(entries) == ["nested/chat.txt", "teams_en.vtt", "teams_pt.vtt", "zoom_en.vtt"]
    assert all(entry["ok"] and len(entry["sha256"]) == 64 for entry in entries.values())
    result = json.loads((out / "docs" / "teams_pt.vtt" / "result.json").read_text(encoding="utf-8"))
    assert [step["id"] for step in result["run"]["steps"]] == [
        "teams_cleaner", "word_frequency", "sentiment_analyzer", "frequency_chart"]
    assert result["artefacts"]["word_frequencies"] == "word_frequency"
    assert (out / "docs" / "teams_pt.vtt" / "frequency_chart.html").read_text(encoding="utf-8").startswith("<")
    with open(out / "corpus" / "documents.csv", encoding="utf-8") as handle:
        documents = {row["document"]: row for row in csv.DictReader(handle)}
    assert set(documents) == set(entries)
    assert documents["nested/chat.txt"]["speakers"] == "2"
    assert int(documents["teams_pt.vtt"]["words"]) > 20
    assert documents["teams_pt.vtt"]["label"] in ("positive", "neutral", "negative")
    overview = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="docs/teams_pt.vtt/frequency_chart.html"' in overview
    assert "4 documents analysed, 0 failed" in overview
    assert "summary: 4 found, 4 run, 0 skipped" in done.stdout


def test_resume_skips_unchanged_documents_and_redoes_changed_bytes_or_pipeline(tmp_path):
    data = copy_examples(tmp_path / "data")
    pipeline = write_pipeline(tmp_path)
    first = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out")
    assert first.returncode == 0, first.stderr
    again = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out")
    assert "3 skipped (already done)" in again.stdout and "0 run" in again.stdout
    with open(data / "zoom_en.vtt", "a", encoding="utf-8") as handle:
        handle.write("\n00:09:00.000 --> 00:09:05.000\n<v Lena Park>One more happy line.</v>\n")
    changed = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "-v")
    assert "1 run, 2 skipped" in changed.stdout
    assert "ok zoom_en.vtt" in changed.stdout and "ok teams_pt.vtt" not in changed.stdout
    write_pipeline(tmp_path, extra="")  # same pipeline text: still nothing to do
    assert "0 run" in run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out").stdout
    pipeline.write_text(pipeline.read_text(encoding="utf-8").replace("top_n = 30", "top_n = 10"), encoding="utf-8")
    redo = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out")
    assert "3 run, 0 skipped" in redo.stdout
    assert len(index_lines(tmp_path / "out")) == 3  # compacted: one line per source


def test_a_failed_document_is_reported_with_file_step_and_reason_and_the_others_go_on(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt")
    (data / "empty.txt").write_bytes(b"")
    (data / "blob.bin").write_bytes(bytes(range(256)) * 8)
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out")
    assert done.returncode == 1, done.stdout + done.stderr
    entries = current(tmp_path / "out")
    assert entries["teams_pt.vtt"]["ok"]
    assert entries["empty.txt"]["error"]["step"] == "read" and "empty" in entries["empty.txt"]["error"]["message"]
    assert entries["blob.bin"]["error"]["step"] == "read"
    summary = done.stdout[done.stdout.index("summary:"):]
    assert "1 ok, 2 failed" in summary
    assert str(data / "empty.txt") in summary and str(data / "blob.bin") in summary


def test_a_plugin_failure_names_the_step(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt")
    pipeline = tmp_path / "bad.toml"
    pipeline.write_text('name = "p"\n[[steps]]\nplugin = "teams_cleaner"\nconfig = { input_format = "srt" }\n'
                        '[[steps]]\nplugin = "word_frequency"\n', encoding="utf-8")
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out")
    entry = current(tmp_path / "out")["teams_pt.vtt"]
    if entry["ok"]:  # the cleaner accepted the forced format: nothing to assert about failures here
        assert done.returncode == 0
        return
    assert done.returncode == 1
    assert entry["documents"][0]["error"]["step"] == "teams_cleaner"


def test_usage_errors_exit_2_before_anything_runs(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt")
    pipeline = write_pipeline(tmp_path)
    assert run_qualia(tmp_path, "batch", str(data), "-o", "out").returncode == 2  # no -f
    workers = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--workers", "0")
    assert workers.returncode == 2 and "--workers" in workers.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[steps]]\nplugin = "no_such_plugin"\n', encoding="utf-8")
    bad = run_qualia(tmp_path, "batch", str(data), "-f", str(unknown), "-o", "out")
    assert bad.returncode == 2 and "no_such_plugin" in bad.stderr
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me", encoding="utf-8")
    foreign = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "notes")
    assert foreign.returncode == 2 and "not a batch's output folder" in foreign.stderr
    assert (tmp_path / "notes" / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_dry_run_lists_what_would_run_and_runs_nothing(tmp_path):
    data = copy_examples(tmp_path / "data")
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "batch", str(data / "*.vtt"), "--exclude", "zoom_*", "-f", str(pipeline),
                      "-o", "out", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"run   {data / 'teams_en.vtt'}" in done.stdout and "zoom_en" not in done.stdout
    assert "2 to run, 0 already done" in done.stdout
    assert not (tmp_path / "out" / "index.jsonl").exists()


def test_include_and_globs_select_files(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt", "interview_en.srt", "chat_plain_pt.txt")
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "batch", str(data), "--include", "*.srt", "--include", "*.txt", "-f",
                      str(pipeline), "-o", "out")
    assert done.returncode == 0, done.stdout
    assert sorted(current(tmp_path / "out")) == ["chat_plain_pt.txt", "interview_en.srt"]


def test_workers_size_each_plugins_process_pool(tmp_path):
    data = copy_examples(tmp_path / "data")
    for index in range(5):
        (data / f"copy{index}.vtt").write_bytes((data / "teams_en.vtt").read_bytes())
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "-v", "batch", str(data), "-f", str(pipeline), "-o", "out", "--workers", "2")
    assert done.returncode == 0, done.stderr
    started = [line for line in done.stderr.splitlines() if "started plugin sentiment_analyzer" in line]
    assert len(started) == 2, done.stderr
    one = run_qualia(tmp_path, "-v", "batch", str(data), "-f", str(pipeline), "-o", "out1", "--workers", "1")
    assert len([line for line in one.stderr.splitlines() if "started plugin sentiment_analyzer" in line]) == 1


def test_speaker_names_are_normalised_across_files_with_an_aliases_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "m1.txt").write_text("[00:00:01] ANA SOUZA: Gostei muito do novo processo.\n"
                                 "[00:00:05] Tom Becker: I think it is fine.\n", encoding="utf-8")
    (data / "m2.txt").write_text("[00:00:01] Ana S.: O processo ficou ruim e lento.\n"
                                 "[00:00:07] tom  becker: Still fine for me.\n", encoding="utf-8")
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('"Ana Souza" = ["Ana S.", "ANA SOUZA"]\n', encoding="utf-8")
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--aliases", str(aliases))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "out" / "corpus" / "speakers.csv", encoding="utf-8") as handle:
        speakers = {row["speaker"]: row for row in csv.DictReader(handle)}
    assert set(speakers) == {"Ana Souza", "Tom Becker"}
    assert speakers["Ana Souza"]["meetings"] == "2" and speakers["Tom Becker"]["meetings"] == "2"
    assert "Ana S." in speakers["Ana Souza"]["spellings"]
    with open(tmp_path / "out" / "corpus" / "sentiment_by_speaker.csv", encoding="utf-8") as handle:
        per_meeting = [(row["document"], row["speaker"]) for row in csv.DictReader(handle)]
    assert sorted(per_meeting) == [("m1.txt", "Ana Souza"), ("m1.txt", "Tom Becker"), ("m2.txt", "Ana Souza"),
                                   ("m2.txt", "Tom Becker")]
    broken = tmp_path / "broken.toml"
    broken.write_text('"x" = 3\n', encoding="utf-8")
    bad = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--aliases", str(broken))
    assert bad.returncode == 2 and "broken.toml" in bad.stderr and "'x'" in bad.stderr


def test_csv_rows_become_documents_with_text_column(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "survey.csv").write_text('id,answer,age\n1,"O atendimento foi ótimo, gostei muito.",30\n'
                                     '2,"Terrible service, very slow and rude.",41\n', encoding="utf-8")
    pipeline = write_pipeline(tmp_path)
    done = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--text-column", "answer")
    assert done.returncode == 0, done.stdout + done.stderr
    entry = current(tmp_path / "out")["survey.csv"]
    assert [document["folder"] for document in entry["documents"]] == ["docs/survey.csv/0001", "docs/survey.csv/0002"]
    with open(tmp_path / "out" / "corpus" / "documents.csv", encoding="utf-8") as handle:
        rows = {row["document"]: row for row in csv.DictReader(handle)}
    assert rows["survey.csv#1"]["label"] == "positive" and rows["survey.csv#2"]["label"] == "negative"
    missing = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out2", "--text-column", "nope")
    assert missing.returncode == 1 and "nope" in missing.stdout
