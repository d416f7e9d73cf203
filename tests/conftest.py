"""Shared fixtures: kernels with fast timings and plugin folders made on the fly."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import AsyncIterator, Callable

import psutil
import pytest

from qualia.kernel import Kernel, Settings

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).parent.parent
EXAMPLES = PROJECT / "examples" / "transcripts"


def write_plugin(root: Path, plugin_id: str, command: list[str], *, kind: str = "analyzer",
                 timeout_s: float = 5, concurrency: int = 1, extra: str = "") -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    command_toml = ", ".join(f'"{part}"' for part in command)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        id = "{plugin_id}"
        name = "{plugin_id}"
        version = "1.0.0"
        kind = "{kind}"
        command = [{command_toml}]
        timeout_s = {timeout_s}
        concurrency = {concurrency}
        """) + extra, encoding="utf-8")
    return folder


def problem_plugin(root: Path, plugin_id: str, behaviour: str, **kwargs: object) -> Path:
    return write_plugin(root, plugin_id, ["{python}", str(FIXTURES / "problem_plugin.py"), behaviour], **kwargs)


# Settings of the ops add-ons (API keys, rate limits, Sentry): a test turns them on itself.
OPS_VARIABLES = ("QUALIA_API_KEYS", "QUALIA_API_KEYS_FILE", "QUALIA_RATE_LIMIT", "QUALIA_RATE_BURST",
                 "QUALIA_WEBHOOK_RATE_LIMIT", "QUALIA_WEBHOOK_RATE_BURST", "QUALIA_SENTRY_DSN",
                 "QUALIA_SENTRY_ENVIRONMENT", "SENTRY_DSN")


@pytest.fixture(autouse=True)
def _no_ops_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OPS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


@pytest.fixture
def fast_settings(tmp_path: Path, plugin_dir: Path) -> Settings:
    return Settings(home=tmp_path / "home", plugin_path=[plugin_dir], breaker_failures=3, breaker_open_s=0.5,
                    start_timeout_s=3.0, cancel_grace_s=0.3, stop_grace_s=0.5, use_entry_points=False)


@pytest.fixture
async def make_kernel(fast_settings: Settings) -> AsyncIterator[Callable[..., Kernel]]:
    """Start kernels on demand; every one is stopped and checked for leftover children."""
    kernels: list[Kernel] = []
    before = {child.pid for child in live_children()}

    async def start(**overrides: object) -> Kernel:
        settings = Settings(**{**{f: getattr(fast_settings, f) for f in fast_settings.__struct_fields__},
                               **overrides})
        kernel = await Kernel(settings).start()
        kernels.append(kernel)
        return kernel

    yield start  # type: ignore[misc]
    for kernel in kernels:
        await kernel.stop()
    leftovers = [child for child in live_children() if child.pid not in before]
    assert not leftovers, f"plugin processes left behind: {leftovers}"


def live_children() -> list[psutil.Process]:
    """Running children of the test process (helpers like multiprocessing's tracker included)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive
