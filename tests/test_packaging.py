"""The install path of the Docker image, tested without a Docker engine.

The image (Dockerfile) builds the wheel of this project from the build context
(.dockerignore filters it) and installs it, with no source tree, where the
bundled plugins then run as `{python} -m qualia.plugins.<id>` from site-packages. Here
the same: the wheel is built from a copy of the tree filtered by .dockerignore,
installed with a plain `pip install <wheel>` into a fresh venv, and the console
script is run from a folder outside the source tree with a clean environment
(nothing on PYTHONPATH, QUALIA_HOME and HOME in a temporary folder).

Slow-ish (a wheel build and a full dependency install: about a minute here), so
the expensive steps are module fixtures shared by the tests.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
# The repository's folders that setup.py installs under the `qualia` namespace.
PACKAGES = ("kernel", "ops", "plugin_sdk", "plugins")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JUNK = re.compile(r"(^|/)__pycache__(/|$)|\.py[cod]$|\.swp$|~$|(^|/)\.DS_Store$")
TIMEOUT = 600  # whole-module budget for a cold pip cache; a warm run takes about a minute

pytestmark = pytest.mark.timeout(TIMEOUT)


def _log(message: str) -> None:
    print(f"[packaging] {message}", file=sys.stderr)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300,
         expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    _log(f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))}: "
         f"exit {done.returncode} in {time.perf_counter() - started:.1f} s")
    if expect is not None:
        assert done.returncode == expect, (
            f"{command} exited {done.returncode} (expected {expect})\n"
            f"--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}")
    return done


def _outer_env() -> dict[str, str]:
    """This environment (pip's configuration, proxies, caches) minus anything pointing at the repo."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONSAFEPATH"}
           and not k.startswith("QUALIA_")}
    return env


# ---- the build context, as `docker build` sees it ------------------------------------------------

def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (anchored at the context root, Go filepath.Match plus `**`) as a regex.

    A pattern that matches a folder excludes everything in it, as in Docker.
    """
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def dockerignore_patterns(root: Path) -> list[re.Pattern[str]]:
    patterns = []
    for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "this test's .dockerignore reader has no `!` exceptions; add them here"
        patterns.append(_glob_regex(posixpath.normpath(line).lstrip("/")))
    return patterns


def copy_build_context(root: Path, target: Path) -> list[str]:
    """Copy what `docker build` would send (the tree less .dockerignore) to target; return the files."""
    patterns = dockerignore_patterns(root)

    def ignored(rel: str) -> bool:
        return any(p.fullmatch(rel) for p in patterns)

    copied = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        rel_folder = "" if rel_folder == "." else rel_folder + "/"
        dirs[:] = sorted(d for d in dirs if not ignored(rel_folder + d))
        for name in sorted(files):
            rel = rel_folder + name
            if ignored(rel):
                continue
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / name, target / rel)
            copied.append(rel)
    return copied


def bundled_plugin_ids(root: Path) -> list[str]:
    return sorted(d.name for d in (root / "plugins").iterdir() if (d / "plugin.toml").is_file())


# ---- fixtures: one wheel, one venv for the whole module -------------------------------------------

class Built:
    def __init__(self, context: Path, files: list[str], wheel: Path, venv: Path) -> None:
        self.context = context
        self.files = files
        self.wheel = wheel
        self.venv = venv


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel built from the build context, and a fresh venv (made meanwhile) to install it in."""
    work = tmp_path_factory.mktemp("packaging")
    context = work / "context"
    started = time.perf_counter()
    files = copy_build_context(ROOT, context)
    _log(f"build context: {len(files)} files in {time.perf_counter() - started:.1f} s")
    assert "pyproject.toml" in files and "README.md" in files, ".dockerignore leaves out what the build needs"
    assert not any(f.startswith(("tests/", ".venv/", ".git/")) for f in files), "the build context is too big"

    env = _outer_env()
    venv = work / "venv"
    started = time.perf_counter()
    making_venv = subprocess.Popen([sys.executable, "-m", "venv", str(venv)], cwd=work, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(context)],
             cwd=work, env=env)
    finally:
        venv_output, _ = making_venv.communicate(timeout=120)
    assert making_venv.returncode == 0, venv_output.decode(errors="replace")
    _log(f"build + venv: {time.perf_counter() - started:.1f} s")
    wheels = list((work / "dist").glob("*.whl"))
    assert len(wheels) == 1, wheels
    return Built(context, files, wheels[0], venv)


@pytest.fixture(scope="module")
def installed(built: Built) -> Path:
    """The venv with the wheel installed the way the image installs it: `pip install <wheel>`.

    `--no-compile` only skips writing .pyc files up front (half of the install time here);
    the venv stays writable, so Python compiles what it imports.
    """
    _run([str(built.venv / "bin" / "python"), "-m", "pip", "install", "--no-compile", str(built.wheel)],
         cwd=built.wheel.parent, env=_outer_env(), timeout=TIMEOUT)
    return built.venv


@pytest.fixture(scope="module")
def site_packages(installed: Path) -> Path:
    found = list((installed / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0].resolve()


@pytest.fixture
def outside(tmp_path: Path, installed: Path) -> tuple[Path, dict[str, str]]:
    """A working folder outside the source tree and an environment that knows nothing of it."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    (tmp_path / "home").mkdir()
    env = {
        "PATH": os.pathsep.join([str(installed / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(tmp_path / "home"),
        "QUALIA_HOME": str(tmp_path / "qualia-home"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
    }
    return tmp_path, env


# ---- the wheel ------------------------------------------------------------------------------------

def test_wheel_holds_the_packages_and_their_data(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = f"{PROJECT['name'].replace('-', '_')}-{PROJECT['version']}.dist-info"
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        metadata = wheel.read(f"{dist_info}/METADATA").decode()

    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"qualia", dist_info}, f"unexpected top-level entries: {sorted(top_level)}"
    assert "qualia/__init__.py" not in names  # a namespace: other distributions may add qualia.* packages
    names = {name.removeprefix("qualia/") for name in names}
    assert not any(name.startswith(("tests/", "scripts/", "examples/")) for name in names)
    assert {"kernel/__init__.py", "kernel/cli/__init__.py", "kernel/process/__init__.py", "plugin_sdk/__init__.py",
            "plugins/__init__.py"} <= names

    plugin_ids = bundled_plugin_ids(built.context)
    assert plugin_ids, "no bundled plugins found"
    for plugin_id in plugin_ids:
        for required in ("plugin.toml", "__main__.py", "__init__.py"):
            assert f"plugins/{plugin_id}/{required}" in names, f"the wheel lacks plugins/{plugin_id}/{required}"

    # Every file of the packages, code or data (manifests, lexicons, fonts, the server's HTML/JS),
    # must be in the wheel; a new kind of data file needs its pattern in pyproject's package-data.
    package_files = {f for f in built.files if f.split("/", 1)[0] in PACKAGES and not JUNK.search(f)}
    missing = sorted(package_files - names)
    assert not missing, ("files of the packages missing from the wheel (extend "
                         f"[tool.setuptools.package-data] in pyproject.toml): {missing}")

    assert re.search(r"^qualia\s*=\s*qualia\.kernel\.cli:main$", entry_points, re.M), entry_points
    required = {re.split(r"[\s;<>=!~\[]", line.split(":", 1)[1].strip(), maxsplit=1)[0].lower()
                for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
    declared = {re.split(r"[\s;<>=!~\[]", dep, maxsplit=1)[0].lower() for dep in PROJECT["dependencies"]}
    assert required == declared


# ---- the installed wheel, run from outside the source tree -----------------------------------------

def test_installed_wheel_imports_from_site_packages(outside: tuple[Path, dict[str, str]],
                                                    installed: Path, site_packages: Path) -> None:
    cwd, env = outside
    leaks = [pth.name for pth in site_packages.glob("*.pth") if str(ROOT) in pth.read_text(errors="replace")]
    assert not leaks, f"the venv points at the source tree: {leaks}"

    version = _run(["qualia", "version"], cwd=cwd, env=env)
    assert version.stdout.strip() == f"{PROJECT['name']} {PROJECT['version']}"

    probe = ("import json, qualia.kernel as kernel, qualia.plugin_sdk as plugin_sdk, qualia.plugins as plugins, "
             "qualia.kernel.registry as registry; "
             "print(json.dumps({'kernel': kernel.__file__, 'plugin_sdk': plugin_sdk.__file__, "
             "'plugins': plugins.__file__, 'bundled': str(registry.BUNDLED_PLUGINS)}))")
    where = json.loads(_run([str(installed / "bin" / "python"), "-c", probe], cwd=cwd, env=env).stdout)
    for module in ("kernel", "plugin_sdk", "plugins"):
        assert Path(where[module]).resolve().is_relative_to(site_packages / "qualia"), where
    assert Path(where["bundled"]) == site_packages / "qualia" / "plugins"
    # Nothing is installed at the top level under the folders' own names (they would clash with other
    # distributions' `kernel` or `ops`).
    for name in ("kernel", "ops", "plugins", "plugin_sdk"):
        assert not (site_packages / name).exists(), name


def test_installed_wheel_lists_and_starts_every_bundled_plugin(outside: tuple[Path, dict[str, str]],
                                                               built: Built, site_packages: Path) -> None:
    cwd, env = outside
    listing = json.loads(_run(["qualia", "plugins", "--json"], cwd=cwd, env=env).stdout)
    assert listing["problems"] == []
    by_id = {plugin["id"]: plugin for plugin in listing["plugins"]}
    assert sorted(by_id) == bundled_plugin_ids(built.context)
    for plugin_id, plugin in by_id.items():
        path = Path(plugin["path"]).resolve()
        assert path == site_packages / "qualia" / "plugins" / plugin_id, plugin["path"]
        assert not path.is_relative_to(ROOT)

    # every plugin starts as `{python} -m qualia.plugins.<id>` with cwd in site-packages and answers
    doctor = _run(["qualia", "doctor"], cwd=cwd, env=env)
    assert "all plugins healthy" in doctor.stdout, doctor.stdout


def test_installed_wheel_runs_the_example_pipeline(outside: tuple[Path, dict[str, str]]) -> None:
    cwd, env = outside
    shutil.copy(ROOT / "examples" / "transcripts" / "teams_pt.vtt", cwd)
    shutil.copy(ROOT / "examples" / "pipelines" / "transcript.toml", cwd)

    _run(["qualia", "pipeline", "teams_pt.vtt", "-f", "transcript.toml", "-o", "out"], cwd=cwd, env=env)

    steps = tomllib.loads((cwd / "transcript.toml").read_text(encoding="utf-8"))["steps"]
    figures = {f"{step.get('id', step['plugin'])}.{step['config']['format']}"
               for step in steps if "format" in step.get("config", {})}
    assert any(name.endswith(".png") for name in figures), figures
    folder = cwd / "out" / "teams_pt"
    assert sorted(p.name for p in folder.iterdir()) == sorted(figures)
    for name in figures:
        data = (folder / name).read_bytes()
        assert data, name
        if name.endswith(".png"):
            assert data.startswith(PNG_MAGIC), name
        elif name.endswith(".svg"):
            assert b"<svg" in data[:2000], name
        elif name.endswith(".html"):
            assert b"<html" in data[:2000].lower(), name
    runs = json.loads((cwd / "out" / "results.json").read_text(encoding="utf-8"))
    assert [step["plugin"] for step in runs[0]["steps"]] == [step["plugin"] for step in steps]


def test_installed_wheel_makes_a_project_with_its_default_pipeline(outside: tuple[Path, dict[str, str]]) -> None:
    """`qualia init` copies qualia.toml and the default pipeline from the package (examples/ is not installed)."""
    cwd, env = outside
    _run(["qualia", "init", "study", "--language", "pt"], cwd=cwd, env=env)
    checked = _run(["qualia", "config", "check"], cwd=cwd / "study" / "data", env=env)
    assert "6 steps" in checked.stdout and checked.stdout.rstrip().endswith("ok"), checked.stdout
    shipped = tomllib.loads((cwd / "study" / "pipelines" / "transcript.toml").read_text(encoding="utf-8"))
    assert shipped == tomllib.loads((ROOT / "examples" / "pipelines" / "transcript.toml").read_text(encoding="utf-8"))


def test_installed_wheel_scores_english_with_shipped_lexicons(outside: tuple[Path, dict[str, str]]) -> None:
    """TextBlob's English lexicon ships in the package: nothing is downloaded (HOME is empty)."""
    cwd, env = outside
    shutil.copy(ROOT / "examples" / "transcripts" / "teams_en.vtt", cwd)
    result = json.loads(_run(["qualia", "analyze", "teams_en.vtt", "-p", "sentiment_analyzer", "--json"],
                             cwd=cwd, env=env).stdout)
    assert result["language"] == "en"
    assert result["document"]["label"] in {"positive", "neutral", "negative"}


def test_installed_wheel_ships_the_plugin_templates_and_the_sample_index(outside: tuple[Path, dict[str, str]]) -> None:
    """`qualia create plugin` renders templates shipped as package data; the sample plugin index ships too."""
    cwd, env = outside
    _run(["qualia", "create", "plugin", "shipped", "--kind", "visualizer"], cwd=cwd, env=env)
    check = _run(["qualia", "plugins", "check", "./shipped"], cwd=cwd, env=env)
    assert "shipped: conforms to qualia/1" in check.stdout, check.stdout
    found = _run(["qualia", "plugins", "search", "word_frequencies"], cwd=cwd, env=env)
    assert "word_frequency" in found.stdout and "qualia/kernel/plugin-index.json" in found.stdout


def test_installed_wheel_serves_health_like_the_image(outside: tuple[Path, dict[str, str]]) -> None:
    """The image's CMD and HEALTHCHECK: `qualia serve` answers GET /health."""
    cwd, env = outside
    assert _health_of(["qualia", "serve"], cwd, env) == 200


def _health_of(serve: list[str], cwd: Path, env: dict[str, str]) -> int | None:
    """Start `serve` on a free port, return the status of its first GET /health, stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (cwd / "serve.log").open("wb")
    server = subprocess.Popen([*serve, "--host", "127.0.0.1", "--port", str(port)], cwd=cwd,
                              env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    status = answer.status
                    break
            except urllib.error.HTTPError as error:
                status = error.code
                error.close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        assert status is not None, f"no answer (exit {server.poll()}):\n" + \
            (cwd / "serve.log").read_text(errors="replace")[-4000:]
        return status
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_core_runs_without_ops(outside: tuple[Path, dict[str, str]], site_packages: Path) -> None:
    """ops/ plugs in from outside: with qualia.ops gone (its entry points still declared), `qualia
    plugins`, `analyze` and `serve` + /health work, and the missing add-on is named, not fatal."""
    cwd, env = outside
    bare = cwd / "bare-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(bare)], cwd=cwd, env=_outer_env())
    target = next((bare / "lib").glob("python3*/site-packages"))
    shutil.rmtree(target)
    shutil.copytree(site_packages, target, copy_function=os.link,
                    ignore=lambda folder, names: ["ops"] if Path(folder) == site_packages / "qualia" else [])
    assert not (target / "qualia" / "ops").exists() and (target / "qualia" / "kernel").is_dir()
    cli = [str(bare / "bin" / "python"), "-m", "qualia.kernel.cli"]

    listing = _run([*cli, "plugins", "--json"], cwd=cwd, env=env)
    assert "word_frequency" in {plugin["id"] for plugin in json.loads(listing.stdout)["plugins"]}
    shutil.copy(ROOT / "examples" / "transcripts" / "teams_en.vtt", cwd)
    counted = json.loads(_run([*cli, "analyze", "teams_en.vtt", "-p", "word_frequency", "--json"],
                              cwd=cwd, env=env).stdout)
    assert counted["total_tokens"] > 0
    helped = _run([*cli, "--help"], cwd=cwd, env=env)
    assert "backup" not in helped.stdout and "qualia.commands:backup" in helped.stderr  # named, not fatal
    assert _health_of([*cli, "serve"], cwd, env) == 200
    assert "qualia.server_addons:ops" in (cwd / "serve.log").read_text(errors="replace")


# ---- the image's files say the same (no engine needed) ---------------------------------------------

def test_dockerfile_installs_the_wheel_like_this_module() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM\s", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2, "a wheels stage and a runtime stage"
    assert re.match(r"\$\{PYTHON_IMAGE\}|python:3\.11-slim", stages[0])
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim\S*$", dockerfile, re.M)
    assert "pip wheel --wheel-dir /wheels ." in stages[0]
    runtime = stages[1]
    assert not re.search(r"^COPY\s", runtime, re.M), "the runtime stage copies no source tree"
    assert f"pip install --no-index --find-links=/wheels {PROJECT['name']}" in runtime
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^ENV\b[^\n]*(?:\\\n[^\n]*)*QUALIA_HOME=/data", runtime, re.M)
    assert 'VOLUME ["/data"]' in runtime and "EXPOSE 8000" in runtime
    assert re.search(r"^HEALTHCHECK .*\n?.*http://127\.0\.0\.1:8000/health", runtime, re.M)
    assert 'CMD ["qualia", "serve", "--host", "0.0.0.0", "--port", "8000"]' in runtime

    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for needed in ("qualia:", '"8000:8000"', ":/data", "restart: unless-stopped", "healthcheck:",
                   "- QUALIA_API_KEYS", "- QUALIA_SENTRY_DSN", "- QUALIA_WEBHOOK_SECRET"):
        assert needed in compose, needed

    # CI runs the README's test command, which installs the dev extra; the quick start needs no test tools
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "```sh\nscripts/test\n```" in readme
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[dev]'" in (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    quick_start = re.search(r"```sh\n(python3 -m venv .*)\n```", readme)
    assert quick_start and ".venv/bin/pip install -e . " in quick_start.group(1), "the quick start installs no extras"
