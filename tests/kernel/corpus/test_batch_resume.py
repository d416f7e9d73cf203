"""A batch killed with SIGKILL, started again, finishes without redoing what it had finished."""
from __future__ import annotations

import os
import signal
import subprocess

import psutil

from tests.kernel.corpus.support import (QUALIA, current, index_lines, make_corpus, qualia_env, run_qualia,
                                         wait_for, write_pipeline)


def test_sigkill_then_rerun_finishes_without_redoing_finished_documents(tmp_path):
    data = make_corpus(tmp_path / "data", 40, kb=2)
    pipeline = write_pipeline(tmp_path)
    out = tmp_path / "out"
    process = subprocess.Popen([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", str(out), "--workers", "1"],
                               env=qualia_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(index_lines(out)) >= 5, timeout=90, what="five finished documents")
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    psutil.wait_procs(children, timeout=10)  # the plugins die with their kernel (PR_SET_PDEATHSIG)
    finished_before = {key: entry["finished"] for key, entry in current(out).items() if entry["ok"]}
    assert 5 <= len(finished_before) < 40

    again = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", str(out), "-v")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(finished_before)} skipped (already done)" in again.stdout
    redone = [line for line in again.stdout.splitlines() if line.startswith("ok ")]
    assert len(redone) == 40 - len(finished_before)
    assert not {line.split()[1] for line in redone} & set(finished_before)
    final = current(out)
    assert len(final) == 40 and all(entry["ok"] for entry in final.values())
    assert all(final[key]["finished"] == stamp for key, stamp in finished_before.items())


def test_a_torn_last_index_line_is_skipped_and_does_not_swallow_the_next(tmp_path):
    data = make_corpus(tmp_path / "data", 3, kb=1)
    pipeline = write_pipeline(tmp_path)
    out = tmp_path / "out"
    assert run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", str(out)).returncode == 0
    index = out / "index.jsonl"
    lines = index.read_bytes().splitlines(keepends=True)
    index.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # the last write of a killed batch, torn
    again = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", str(out), "-v")
    assert again.returncode == 0, again.stdout
    assert "1 run, 2 skipped" in again.stdout
    assert len(current(out)) == 3
