"""On a cluster too: plugins' `$/progress` reaches the batch's listener, Dask's dashboard link answers, and
`qualia watch --cluster` keeps a folder's results like a local watch. Real LocalClusters on 127.0.0.1."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import write_plugin
from tests.kernel.corpus.support import QUALIA, Lines, copy_examples, current, qualia_env, wait_for, \
    write_pipeline

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(180)

# An SDK analyzer that reports progress in STEPS steps. With a `gate` file in its config it waits until the file
# exists (the test releases it), so a batch can be held running while the test looks at it.
PROGRESS_PLUGIN = textwrap.dedent("""\
    import os, time
    from qualia.plugin_sdk import AnalyzerPlugin, serve

    STEPS = 5

    class Steady(AnalyzerPlugin):
        def analyze(self, document, config, inputs):
            gate = config.get("gate")
            deadline = time.monotonic() + 60
            while gate and not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)
            for step in range(1, STEPS + 1):
                self.progress(step, STEPS)
            return {"characters": len(document.text)}

    if __name__ == "__main__":
        serve(Steady)
""")


def steady_setup(tmp_path: Path, docs: int, *, gate: Path | None = None) -> tuple[Path, Path, dict[str, str]]:
    plugins = tmp_path / "plugins"
    script = tmp_path / "steady.py"
    script.write_text(PROGRESS_PLUGIN, encoding="utf-8")
    write_plugin(plugins, "steady", ["{python}", str(script)], timeout_s=90,
                 extra='[parameters.gate]\ntype = "string"\ndefault = ""\n')
    data = tmp_path / "data"
    data.mkdir()
    for number in range(docs):
        (data / f"doc{number:02d}.txt").write_text(f"document number {number} " * 20, encoding="utf-8")
    pipeline = tmp_path / "steady.toml"
    config = f'\nconfig = {{ gate = "{gate}" }}' if gate else ""
    pipeline.write_text(f'name = "steady"\n[[steps]]\nplugin = "steady"{config}\n', encoding="utf-8")
    return data, pipeline, {**qualia_env(tmp_path), "QUALIA_PLUGIN_PATH": str(plugins)}


def progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.fullmatch(r"  \S+: steady \d+/\d+", line)]


def test_plugins_progress_on_the_workers_reaches_the_batchs_listener_before_the_documents_result(tmp_path):
    data, pipeline, env = steady_setup(tmp_path, 12)
    local = subprocess.run([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "local", "-v"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stdout + local.stderr
    cluster = subprocess.run([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "cluster", "-v", "--cluster",
                              "local:2"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=150)
    assert cluster.returncode == 0, cluster.stdout + cluster.stderr
    # the plain display (-v) prints each document's finished step: the same lines as the local executor's
    expected = sorted(f"  doc{number:02d}.txt: steady 5/5" for number in range(12))
    assert sorted(progress_lines(local.stdout)) == expected
    assert sorted(progress_lines(cluster.stdout)) == expected, cluster.stdout
    lines = cluster.stdout.splitlines()
    for number in range(12):  # relayed while the document runs, so before its result is recorded
        key = f"doc{number:02d}.txt"
        assert lines.index(f"  {key}: steady 5/5") < next(i for i, line in enumerate(lines)
                                                           if line.startswith(f"ok {key} "))


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=20) as response:
        response.read()
        return response.status


def test_the_dashboard_link_is_printed_and_answers_while_the_batch_runs(tmp_path):
    gate = tmp_path / "release"
    data, pipeline, env = steady_setup(tmp_path, 3, gate=gate)
    batch = subprocess.Popen([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster", "local:2"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = Lines(batch.stdout)
    try:
        line = wait_for(lambda: next((line for line in output.lines if line.startswith("dashboard: ")), None),
                        timeout=90, what="the dashboard line")
        url = line.removeprefix("dashboard: ")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", url), url
        assert not current(tmp_path / "out"), "the documents are held at the gate"
        assert _status(url) == 200
        gate.write_text("go", encoding="utf-8")
        assert batch.wait(timeout=90) == 0
    finally:
        stderr = output.finish(batch)
    assert len(current(tmp_path / "out")) == 3, stderr
    assert output.lines.index(line) < next(i for i, text in enumerate(output.lines) if text.startswith("summary:"))


def test_without_bokeh_the_batch_runs_and_prints_no_dashboard_link(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_en.vtt", "zoom_en.vtt")
    pipeline = write_pipeline(tmp_path)
    code = ("import sys; sys.modules['bokeh'] = None; from qualia.kernel.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "batch", str(data), "-f", str(pipeline), "-o", "out",
                           "--cluster", "local:1"], env=qualia_env(tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^cluster: tcp://127\.0\.0\.1:\d+, 1 worker\(s\)", done.stdout, re.M), done.stdout
    assert "dashboard" not in done.stdout
    assert sorted(current(tmp_path / "out")) == ["teams_en.vtt", "zoom_en.vtt"]


def test_watch_on_a_cluster_processes_new_files_like_a_local_batch_and_stops_cleanly(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_pt.vtt")
    pipeline = write_pipeline(tmp_path)
    out = tmp_path / "out"
    env = {**qualia_env(tmp_path), "QUALIA_DASK_SCHEDULER": "local:1"}
    watch = subprocess.Popen([QUALIA, "watch", str(data), "-f", str(pipeline), "-o", str(out), "--quiet-ms", "200"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = Lines(watch.stdout)
    seen: set[psutil.Process] = set()

    def tree() -> list[psutil.Process]:
        try:
            children = psutil.Process(watch.pid).children(recursive=True)
        except psutil.Error:
            return []
        seen.update(children)
        return children

    try:
        wait_for(lambda: output.has("watching"), timeout=120, what="the first round on the cluster")
        assert output.has("cluster: tcp://127.0.0.1:") and output.has("1 worker(s) with a Qualia kernel each")
        assert sorted(current(out)) == ["teams_pt.vtt"]
        (data / "new.txt").write_text("[00:00:01] Ana Souza: Chegou um arquivo novo, que ótimo.\n", encoding="utf-8")
        wait_for(lambda: "new.txt" in current(out) and tree(), timeout=60, what="the new file")
        assert current(out)["new.txt"]["ok"]
        (data / "teams_pt.vtt").unlink()
        wait_for(lambda: "teams_pt.vtt" not in current(out), what="the deleted file to leave the index")
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=60) == 0
    finally:
        stderr = output.finish(watch)
    assert output.has("watch: stopped") and "Traceback" not in stderr, stderr
    assert seen, "the cluster's worker ran under the watch"
    gone, alive = psutil.wait_procs(list(seen), timeout=20)
    assert not alive, f"left behind: {alive}"

    batch = subprocess.run([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "batch_out"], env=qualia_env(tmp_path),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert batch.returncode == 0, batch.stdout + batch.stderr
    elapsed = re.compile(rb'"elapsed_ms":[-+0-9.eE]+')
    watched, batched = (elapsed.sub(b"", (folder / "docs" / "new.txt" / "result.json").read_bytes())
                        for folder in (out, tmp_path / "batch_out"))
    assert watched == batched
