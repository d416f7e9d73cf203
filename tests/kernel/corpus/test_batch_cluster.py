"""`qualia batch --cluster`: the same batch on Dask, one Qualia kernel per worker.

Real clusters on 127.0.0.1: a LocalCluster of 2 worker processes started by the
batch, and a `dask scheduler` with two `dask worker` processes started here.
Each cluster run is compared with one local batch of the same corpus, file by
file (result.json byte for byte but for the timing fields, figures and corpus
tables byte for byte).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import write_plugin
from tests.kernel.corpus.support import (QUALIA, copy_examples, current, index_lines, make_corpus, qualia_env,
                                         run_qualia, wait_for, write_pipeline)

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(240)

DOCS = 60
BAD = ("empty.txt", "blob.bin")            # fail in a local batch too: reported the same way
ELAPSED = re.compile(rb'"elapsed_ms":[-+0-9.eE]+')
DASK = str(Path(sys.executable).parent / "dask")
PLUGIN = re.compile(r"-m qualia\.plugins\.\w+|worker_killer\.py")  # a plugin process's command line


@dataclass
class Corpus:
    root: Path
    data: Path
    pipeline: Path
    local: Path                              # the local batch's OUT
    local_stdout: str

    @property
    def sources(self) -> int:
        return sum(1 for path in self.data.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("cluster")
    data = make_corpus(root / "data", DOCS, kb=1)
    copy_examples(data)
    (data / "empty.txt").write_bytes(b"")
    (data / "blob.bin").write_bytes(bytes(range(256)) * 4500)  # > 1 MiB: travels to the cluster by scatter
    pipeline = write_pipeline(root, figure=True)
    local = run_qualia(root, "batch", str(data), "-f", str(pipeline), "-o", str(root / "local"), "--workers", "2")
    assert local.returncode == 1, local.stdout + local.stderr  # the two bad files
    return Corpus(root, data, pipeline, root / "local", local.stdout)


def results(out: Path) -> dict[str, bytes]:
    """Every file of every document's folder and the corpus tables; timings (elapsed_ms) zeroed."""
    files: dict[str, bytes] = {}
    for folder in ("docs", "corpus"):
        for path in sorted((out / folder).rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.name == "result.json":
                    data = ELAPSED.sub(b'"elapsed_ms":0', data)
                files[path.relative_to(out).as_posix()] = data
    return files


def index_view(out: Path) -> dict[str, tuple]:
    return {key: (entry["ok"], entry.get("sha256"), entry.get("pipeline"), repr(entry.get("documents")),
                  repr(entry.get("error"))) for key, entry in current(out).items()}


def failed_lines(stdout: str) -> list[str]:
    return sorted(line for line in stdout.splitlines() if line.startswith("FAILED "))


def assert_same_as_local(corpus: Corpus, out: Path, stdout: str) -> None:
    local, cluster = results(corpus.local), results(out)
    assert sum(name.endswith("result.json") for name in local) == corpus.sources - len(BAD)
    assert sorted(cluster) == sorted(local)
    different = [name for name in local if cluster[name] != local[name]]
    assert not different, f"differ from the local batch: {different[:5]}"
    assert index_view(out) == index_view(corpus.local)
    assert failed_lines(stdout) == failed_lines(corpus.local_stdout) and len(failed_lines(stdout)) == len(BAD)


class TreeWatch:
    """Every process that ever appears under `pid` (sampled), to check none outlives the batch."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, psutil.Process] = {}
        self.commands: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for child in self.root.children(recursive=True):
                    self.seen.setdefault(child.pid, child)
                    try:
                        self.commands[child.pid] = " ".join(child.cmdline())
                    except psutil.Error:
                        continue
            except psutil.Error:
                return
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def plugins(self) -> list[psutil.Process]:
        return [self.seen[pid] for pid, command in self.commands.items() if PLUGIN.search(command)]

    def alive(self) -> list[psutil.Process]:
        gone, alive = psutil.wait_procs(list(self.seen.values()), timeout=10)
        return alive


def _is_plugin(process: psutil.Process) -> bool:
    try:
        return bool(PLUGIN.search(" ".join(process.cmdline())))
    except psutil.Error:
        return False


def _workers(batch: psutil.Process) -> list[psutil.Process]:
    """The LocalCluster's worker processes: children of the batch that run plugin processes."""
    workers = []
    for child in batch.children():
        try:
            if any(_is_plugin(grandchild) for grandchild in child.children()):
                workers.append(child)
        except psutil.Error:
            continue
    return workers


def start_batch(corpus: Corpus, tmp_path: Path, out: Path, *extra: str,
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([QUALIA, "batch", str(corpus.data), "-f", str(corpus.pipeline), "-o", str(out), *extra],
                            env=env or qualia_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# ---- a LocalCluster started by the batch ------------------------------------------------------

def test_a_local_cluster_gives_the_local_batchs_results_even_when_a_worker_is_killed_mid_batch(corpus, tmp_path):
    """Every document once in the index, byte for byte a local batch's results, no plugin process left."""
    out = tmp_path / "out"
    batch = start_batch(corpus, tmp_path, out, "--cluster", "local:2", "-v")
    watch = TreeWatch(batch.pid)
    try:
        wait_for(lambda: len(index_lines(out)) >= 10, timeout=150, what="ten finished sources")
        workers = wait_for(lambda: _workers(psutil.Process(batch.pid)), timeout=30, what="a busy worker")
        victim = workers[0]
        victims_plugins = [child for child in victim.children() if _is_plugin(child)]
        assert victims_plugins, "the victim was running documents"
        victim.send_signal(signal.SIGKILL)
        assert len(index_lines(out)) < corpus.sources, "the batch finished before the kill: use more documents"
        stdout, stderr = batch.communicate(timeout=200)
    finally:
        if batch.poll() is None:
            batch.kill()
        watch.stop()
    assert batch.returncode == 1, stdout + stderr  # the two bad files only, as locally
    assert re.search(r"^cluster: tcp://127\.0\.0\.1:\d+, 2 worker\(s\) with a Qualia kernel each, 8 documents at a "
                     r"time$", stdout, re.M), stdout
    assert f"summary: {corpus.sources} found, {corpus.sources} run, 0 skipped" in stdout
    psutil.wait_procs(victims_plugins, timeout=10)
    assert not [process for process in victims_plugins if process.is_running()], "the dead worker's plugins live on"
    recorded = Counter(line.split()[1] for line in stdout.splitlines() if line.startswith("ok "))
    assert len(recorded) == corpus.sources - len(BAD) and set(recorded.values()) == {1}, "each document once"
    assert f"{corpus.sources - len(BAD)} ok, {len(BAD)} failed" in stdout
    assert_same_as_local(corpus, out, stdout)
    assert len(index_lines(out)) == corpus.sources  # compacted: one line per source, none missing
    assert not watch.alive(), "no worker or plugin process outlives the batch"


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_client_stopped_mid_batch_leaves_no_process_and_a_rerun_resumes(corpus, tmp_path, stop):
    out = tmp_path / "out"
    batch = start_batch(corpus, tmp_path, out, "--cluster", "local:2")
    watch = TreeWatch(batch.pid)
    try:
        wait_for(lambda: len(index_lines(out)) >= 5, timeout=150, what="five finished sources")
        batch.send_signal(stop)
        batch.communicate(timeout=60)
    finally:
        if batch.poll() is None:
            batch.kill()
        watch.stop()
    assert batch.returncode == (-signal.SIGKILL if stop == signal.SIGKILL else 130)
    assert watch.plugins() and not watch.alive(), "the workers and their plugins stop with the client"
    finished = {key for key, entry in current(out).items() if entry["ok"]}
    assert 1 <= len(finished) < corpus.sources - len(BAD)
    again = run_qualia(tmp_path, "batch", str(corpus.data), "-f", str(corpus.pipeline), "-o", str(out),
                       "--cluster", "local:2", "-v", timeout=200)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"{len(finished)} skipped (already done)" in again.stdout
    redone = {line.split()[1] for line in again.stdout.splitlines() if line.startswith("ok ")}
    assert not redone & finished and len(redone) == corpus.sources - len(BAD) - len(finished)
    assert_same_as_local(corpus, out, again.stdout)


WORKER_KILLER = textwrap.dedent("""\
    # An analyzer that kills the process that started it (a Dask worker) on one document.
    import json, os, signal, sys

    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            if method == "exit":
                break
            continue
        if method == "initialize":
            result = {"protocol": "qualia/1", "id": "worker_killer", "version": "1.0.0"}
        elif method == "shutdown":
            result = None
        elif "KILL-THE-WORKER" in message["params"]["document"]["text"]:
            os.kill(os.getppid(), signal.SIGKILL)
            sys.exit(9)
        else:
            result = {"result": {"characters": len(message["params"]["document"]["text"])}}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\\n")
        sys.stdout.flush()
""")


def killer_corpus(tmp_path: Path, fine: list[str], poison: str) -> tuple[Path, Path, Path]:
    """The worker_killer plugin's folder, a data folder of fine documents plus one that kills its worker, and
    a pipeline running the plugin."""
    plugins = tmp_path / "plugins"
    script = tmp_path / "worker_killer.py"
    script.write_text(WORKER_KILLER, encoding="utf-8")
    write_plugin(plugins, "worker_killer", ["{python}", str(script)], timeout_s=10)
    data = tmp_path / "data"
    data.mkdir()
    for number, name in enumerate(fine):
        (data / name).write_text(f"document {number} is fine", encoding="utf-8")
    (data / poison).write_text("this one says KILL-THE-WORKER", encoding="utf-8")
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text('name = "killer"\n[[steps]]\nplugin = "worker_killer"\n', encoding="utf-8")
    return plugins, data, pipeline


def test_a_document_that_kills_its_worker_every_time_is_reported_and_the_others_finish(tmp_path):
    plugins, data, pipeline = killer_corpus(tmp_path, [f"fine{number}.txt" for number in range(6)], "poison.txt")
    env = {**qualia_env(tmp_path), "QUALIA_PLUGIN_PATH": str(plugins)}
    done = subprocess.run([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster", "local:2"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=200)
    assert done.returncode == 1, done.stdout + done.stderr
    entries = current(tmp_path / "out")
    assert sorted(key for key, entry in entries.items() if entry["ok"]) == [f"fine{n}.txt" for n in range(6)], \
        done.stdout
    assert entries["poison.txt"]["error"]["step"] == "worker"
    assert entries["poison.txt"]["error"]["code"] == "worker_lost"
    assert re.search(r"^FAILED .*poison\.txt: worker: the Dask workers running it died on every attempt, also when it ran alone",
                     done.stdout, re.M), done.stdout
    assert "6 ok, 1 failed" in done.stdout


# ---- an existing scheduler and two `dask worker` processes -------------------------------------

@pytest.fixture
def scheduler(tmp_path: Path):
    """`dask scheduler` and two `dask worker` processes (one thread each) on 127.0.0.1; their environment
    has its own QUALIA_HOME and no extra plugin folder, like a worker on another machine."""
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "worker-home"), "QUALIA_PLUGIN_PATH": ""}
    address_file = tmp_path / "scheduler.json"
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                                   "127.0.0.1:0", "--scheduler-file", str(address_file)], env=env, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(lambda: address_file.exists() and address_file.stat().st_size, timeout=60, what="the scheduler")
        address = __import__("json").loads(address_file.read_text(encoding="utf-8"))["address"]
        logs = [tmp_path / f"worker{number}.log" for number in range(2)]
        for number, log in enumerate(logs):
            with open(log, "wb") as handle:
                processes.append(subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                     "--dashboard-address", "127.0.0.1:0", "--local-directory", str(tmp_path / f"worker{number}"),
                     "--name", f"qualia-test-{number}"], env=env, cwd=tmp_path, stdout=handle, stderr=handle))
        wait_for(lambda: all(b"Registered to:" in log.read_bytes() for log in logs), timeout=60,
                 what="both workers registered with the scheduler")
        yield address, processes
    finally:  # SIGKILL is quick, and each worker process, then its plugins, die with their parent
        tree = [child for process in processes if process.poll() is None
                for child in psutil.Process(process.pid).children(recursive=True)]
        for process in processes:
            process.kill()
            process.wait(timeout=20)
        gone, alive = psutil.wait_procs(tree, timeout=20)
        assert not alive, f"left behind: {alive}"


def test_an_existing_scheduler_with_two_dask_workers_gives_the_same_results_and_stops_its_kernels(
        corpus, tmp_path, scheduler):
    address, processes = scheduler
    env = {**qualia_env(tmp_path), "QUALIA_DASK_SCHEDULER": address}
    done = subprocess.run([QUALIA, "batch", str(corpus.data), "-f", str(corpus.pipeline), "-o", "out"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=200)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cluster: {address}, 2 worker(s) with a Qualia kernel each, 2 documents at a time" in done.stdout
    assert_same_as_local(corpus, tmp_path / "out", done.stdout)
    assert (tmp_path / "worker-home").is_dir(), "the workers' kernels use the workers' own QUALIA_HOME"
    workers = [child for process in processes[1:] for child in psutil.Process(process.pid).children(recursive=True)]
    assert len(workers) >= 2 and all(process.poll() is None for process in processes)
    assert not [child for child in workers if _is_plugin(child) and child.is_running()], \
        "the batch stops its kernels and their plugins on the workers that stay"

    # a plugin only the client has: the workers cannot run the pipeline, and say so before any document runs
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "client_only", ["{python}", "-c", "pass"])
    pipeline = tmp_path / "client_only.toml"
    pipeline.write_text('[[steps]]\nplugin = "client_only"\n', encoding="utf-8")
    mismatch = subprocess.run([QUALIA, "--plugin-path", str(plugins), "batch", str(corpus.data / "teams_en.vtt"),
                               "-f", str(pipeline), "-o", "mismatch", "--cluster", address], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert mismatch.returncode == 1, mismatch.stdout + mismatch.stderr
    assert "worker tcp://127.0.0.1:" in mismatch.stderr and "client_only" in mismatch.stderr
    assert not current(tmp_path / "mismatch")


# ---- flags ---------------------------------------------------------------------------------------

def test_without_dask_the_flag_says_how_to_install_it(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_en.vtt")
    pipeline = write_pipeline(tmp_path)
    code = ("import sys; sys.modules['distributed'] = None; from qualia.kernel.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "batch", str(data), "-f", str(pipeline), "-o", "out",
                           "--cluster", "local:2"], env=qualia_env(tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'qualia-core[dask]'" in done.stderr


def test_bad_cluster_values_are_usage_errors_and_an_unreachable_scheduler_a_failure(tmp_path):
    data = copy_examples(tmp_path / "data", "teams_en.vtt")
    pipeline = write_pipeline(tmp_path)
    bad = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster", "somewhere")
    assert bad.returncode == 2 and "expected local:N" in bad.stderr and "tcp://HOST:PORT" in bad.stderr
    zero = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster", "local:0")
    assert zero.returncode == 2 and "at least 1 worker" in zero.stderr
    both = run_qualia(tmp_path, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster", "local:2",
                      "--workers", "2")
    assert both.returncode == 2 and "--workers" in both.stderr
    with __import__("socket").socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**qualia_env(tmp_path), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    unreachable = subprocess.run([QUALIA, "batch", str(data), "-f", str(pipeline), "-o", "out", "--cluster",
                                  f"tcp://127.0.0.1:{port}"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                 timeout=60)
    assert unreachable.returncode == 1, unreachable.stdout + unreachable.stderr
    assert f"cannot reach the Dask scheduler tcp://127.0.0.1:{port}" in unreachable.stderr
    assert not (tmp_path / "out" / "index.jsonl").exists()


# ---- deployment files (no Docker engine or Kubernetes here: parsed, not run) ---------------------

def test_the_compose_file_runs_a_scheduler_and_two_workers_from_the_projects_image_with_the_dask_extra():
    import yaml

    from tests.conftest import PROJECT

    compose = yaml.safe_load((PROJECT / "docker-compose.dask.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert sorted(services) == ["scheduler", "worker"]
    for service in services.values():
        assert service["build"] == {"context": ".", "args": {"QUALIA_EXTRAS": "dask"}}
        assert service["image"] == services["scheduler"]["image"] and service["init"] is True
    scheduler, worker = services["scheduler"], services["worker"]
    assert scheduler["command"][:2] == ["dask", "scheduler"] and "8786:8786" in scheduler["ports"]
    assert "--port" in scheduler["command"] and scheduler["command"][scheduler["command"].index("--port") + 1] == "8786"
    assert "/health" in " ".join(scheduler["healthcheck"]["test"])
    assert worker["command"][:3] == ["dask", "worker", "tcp://scheduler:8786"]
    assert worker["command"][worker["command"].index("--nthreads") + 1] == "4"  # DOCUMENTS_PER_WORKER
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["scheduler"]["condition"] == "service_healthy"
    for service in (scheduler, worker):  # chunks' files are not kept in Dask's message logs
        assert service["environment"]["DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH"] == "16"
    assert worker["environment"]["QUALIA_HOME"] == "/data"

    dockerfile = (PROJECT / "Dockerfile").read_text(encoding="utf-8")
    extras = '${QUALIA_EXTRAS:+"[$QUALIA_EXTRAS]"}'
    assert f"pip wheel --wheel-dir /wheels .{extras}" in dockerfile
    assert f"pip install --no-index --find-links=/wheels qualia-core{extras}" in dockerfile
    assert dockerfile.count("ARG QUALIA_EXTRAS") == 3  # declared once, then in each stage
    pyproject = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dask = \["dask\[distributed\]>=[\d.]+", "bokeh>=3\.1"\]$', pyproject, re.M)

    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Scale-out with Dask"):]
    section = section[:section.index("\n## ", 1)]
    assert "docker compose -f docker-compose.dask.yml up --build -d" in section
    assert "--cluster tcp://127.0.0.1:8786" in section and "pip install 'qualia-core[dask]'" in section
    operator = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    assert operator["apiVersion"] == "kubernetes.dask.org/v1" and operator["kind"] == "DaskCluster"
    containers = [operator["spec"][part]["spec"]["containers"][0] for part in ("worker", "scheduler")]
    assert containers[0]["args"][:2] == ["dask", "worker"] and containers[1]["args"] == ["dask", "scheduler"]
    assert all(container["image"].endswith("qualia-core:0.1.0-dask") for container in containers)
