"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

A real server on 127.0.0.1 with a real plugin folder and API keys on
(`QUALIA_API_KEYS`): the page opened as /monitor?key=... loads from the
server alone and passes the key on to its stream, its three Canvas charts draw, the plugin table turns a
plugin's breaker red when crashes open it (and green again after a good
half-open trial), a job's row shows its documents done, and the page reconnects by itself when the server
restarts on the same port. Screenshots land in test-artifacts/.

This test never skips: without /usr/bin/chromium (`apt-get install -y
chromium`) or Playwright (`pip install -e '.[dev]'`) it fails and says so.
Playwright's own browser download (`playwright install`) is not used.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
import pytest

from qualia.kernel import Kernel
from qualia.kernel.server import ServerSettings, create_app, start_server
from qualia.kernel.server.monitor import MONITOR
from tests.conftest import PROJECT, problem_plugin

CHROMIUM = Path(os.environ.get("QUALIA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = PROJECT / "test-artifacts"
KEY = "test-key-123"

# Series colours of monitor.js and breaker colours of monitor.css, as the browser reports them.
BLUE, CYAN, ORANGE, GREEN = (37, 99, 235), (8, 145, 178), (234, 88, 12), (22, 163, 74)
OPEN_BG, OPEN_FG = "rgb(254, 226, 226)", "rgb(185, 28, 28)"
CLOSED_BG = "rgb(220, 252, 231)"

PIXELS_JS = """([id, rgb]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0, series = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    painted += 1;
    if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) < 12 && Math.abs(data[i + 1] - rgb[1]) < 12
        && Math.abs(data[i + 2] - rgb[2]) < 12) series += 1;
  }
  return {painted, series, width: canvas.width, height: canvas.height};
}"""


async def drawn(page, canvas: str, colour: tuple[int, ...], *, at_least: int = 20, timeout: float = 20.0) -> dict:
    """The canvas's pixel counts once its line has more than `at_least` pixels of `colour`, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = await page.evaluate(PIXELS_JS, [canvas, list(colour)])
        if pixels["series"] > at_least or time.monotonic() > deadline:
            return pixels
        await asyncio.sleep(0.1)


def require_browser():
    """Playwright's async API, or a failure that says what to install (never a skip)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the dashboard browser test needs Debian's chromium package "
                    "(apt-get install -y --no-install-recommends chromium; .ci/run does it)", pytrace=False)
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (Playwright's own browser download "
                    "is not needed)", pytrace=False)
    return async_playwright


def fast_monitor(app) -> None:
    settings = app[MONITOR].settings
    settings.interval_s = 0.25
    settings.retry_ms = 300


async def keep_busy(session, stop: asyncio.Event) -> None:
    """Steady traffic for the charts: cached and uncached analyses, health checks, a 404 now and then."""
    n = 0
    while not stop.is_set():
        n += 1
        async with session.post("/analyze/echo", json={"text": f"text {n % 7}"}) as r:
            assert r.status == 200
        async with session.get("/health" if n % 5 else "/missing") as r:
            await r.read()
        await asyncio.sleep(0.01)


async def breaker_badge(page, plugin: str) -> dict:
    return await page.evaluate("""(id) => {
      const badge = document.querySelector(`tr[data-plugin="${id}"] .breaker`);
      if (!badge) return null;
      const style = getComputedStyle(badge);
      return {text: badge.textContent, background: style.backgroundColor, color: style.color,
              className: badge.className};
    }""", plugin)


@pytest.mark.timeout(150)
async def test_dashboard_in_chromium(serve, plugin_dir, monkeypatch):
    async_playwright = require_browser()
    monkeypatch.setenv("QUALIA_API_KEYS", KEY)  # the dashboard works with keys on (ops/auth.py)
    ARTIFACTS.mkdir(exist_ok=True)
    flaky = problem_plugin(plugin_dir, "flaky", "toggle")
    (flaky / "mode").write_text("ok")
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=fast_monitor, breaker_open_s=2.0)
    port = int(served.url.rsplit(":", 1)[1])

    requests: list[str] = []
    problems: list[str] = []
    restarted = None
    async with served.session.get("/monitor/stream") as r:
        assert r.status == 401  # keys are on indeed
    client = aiohttp.ClientSession(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"})
    stop = asyncio.Event()
    traffic = asyncio.ensure_future(keep_busy(client, stop))
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 1000})
                page.on("request", lambda request: requests.append(request.url))
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("console", lambda message: message.type == "error" and problems.append(
                    f"console: {message.text}"))

                await page.goto(f"{served.url}/monitor?key={KEY}")
                await page.wait_for_selector('#connection[data-state="live"]', timeout=10_000)
                await page.wait_for_selector('tr[data-plugin="echo"] .breaker', timeout=10_000)
                await page.wait_for_selector('tr[data-plugin="flaky"]', timeout=10_000)

                # Charts: a few seconds of traffic, then the series' own colours are on the canvases.
                await page.wait_for_function(
                    "() => Number(document.getElementById('requests-per-min').textContent.replace(/[^0-9.]/g, '')) > 0",
                    timeout=10_000)
                # The charts show 2 minutes: a few seconds of samples are a short line on the right (later on a
                # loaded machine), so wait for each line rather than for a fixed time.
                requests_chart = await drawn(page, "chart-requests", BLUE)
                latency_chart = await drawn(page, "chart-latency", CYAN)
                cpu_chart = await page.evaluate(PIXELS_JS, ["chart-cpu", list(GREEN)])
                assert requests_chart["width"] > 300 and requests_chart["height"] > 100, requests_chart
                assert requests_chart["series"] > 20, f"no requests line drawn: {requests_chart}"
                assert latency_chart["series"] > 20, f"no p50 latency line drawn: {latency_chart}"
                assert cpu_chart["painted"] > 500, f"the CPU chart is blank: {cpu_chart}"
                p50 = await page.text_content("#latency-p50")
                assert p50 and p50 != "–"
                kernel_cpu = await page.text_content("#kernel-cpu")
                assert kernel_cpu and "% CPU" in kernel_cpu
                assert await page.text_content("#jobs-queued") == "0"

                # A job: its row shows the documents done, and where jobs run (here: no cluster).
                assert (await page.text_content("#executor")).startswith("Jobs run here")
                async with client.post("/jobs", json={"plugin": "echo", "documents": ["one", "two", "three"]}) as r:
                    assert r.status == 202
                    job_id = (await r.json())["job_id"]
                await page.wait_for_selector(f'tr[data-job="{job_id}"][data-state="succeeded"]', timeout=15_000)
                row = await page.text_content(f'tr[data-job="{job_id}"]')
                assert "3 / 3 done" in row and "echo (plugin)" in row and job_id in row, row
                width = await page.evaluate(
                    "(id) => document.querySelector(`tr[data-job=\"${id}\"] .progress span`).style.width", job_id)
                assert width == "100%"

                # The breaker: crash the plugin until it opens; the row turns red.
                assert (await breaker_badge(page, "echo"))["background"] == CLOSED_BG
                (flaky / "mode").write_text("fail")
                for _ in range(3):  # breaker_failures is 3 in the tests
                    async with client.post("/analyze/flaky", json={"text": "boom"}) as r:
                        assert r.status == 502
                await page.wait_for_function(
                    """() => { const b = document.querySelector('tr[data-plugin="flaky"] .breaker');
                               return b && b.textContent === 'open'; }""", timeout=10_000)
                badge = await breaker_badge(page, "flaky")
                assert badge["background"] == OPEN_BG and badge["color"] == OPEN_FG, badge
                row = await page.text_content('tr[data-plugin="flaky"]')
                assert "3 in a row" in row and "1 trip" in row
                assert await page.text_content('tr[data-plugin="flaky"] .restarts') == "2"
                assert await page.text_content('tr[data-plugin="flaky"] .last-error')
                await page.wait_for_function("() => document.getElementById('events').textContent.includes('→ open')",
                                             timeout=5_000)
                assert await page.text_content("#status") == "degraded"
                assert int(await page.text_content("#errors-5xx")) >= 3
                await page.screenshot(path=str(ARTIFACTS / "monitor-breaker-open.png"), full_page=True)

                # After the open time a good trial closes it again: the row turns green.
                (flaky / "mode").write_text("ok")
                deadline = time.monotonic() + 10
                while True:
                    async with client.post("/analyze/flaky", json={"text": "fine", "cache": False}) as r:
                        if r.status == 200:
                            break
                        assert r.status == 503 and time.monotonic() < deadline
                    await asyncio.sleep(0.2)
                await page.wait_for_function(
                    """() => document.querySelector('tr[data-plugin="flaky"] .breaker').textContent === 'closed'""",
                    timeout=10_000)
                assert (await breaker_badge(page, "flaky"))["background"] == CLOSED_BG

                # The server restarts on the same port: the page notices and comes back by itself.
                stop.set()
                await traffic
                await served.runner.cleanup()
                await page.wait_for_selector('#connection:not([data-state="live"])', timeout=10_000)
                app = create_app(Kernel(served.kernel.settings, registry=served.kernel.registry),
                                 settings=ServerSettings(access_log=False, shutdown_timeout_s=5.0))
                fast_monitor(app)
                restarted, _ = await start_server(app, "127.0.0.1", port)
                await page.wait_for_selector('#connection[data-state="live"]', timeout=15_000)
                await page.wait_for_function("() => document.getElementById('events').textContent"
                                             ".includes('stream reconnected')", timeout=5_000)
                await page.wait_for_function(
                    """() => { const b = document.querySelector('tr[data-plugin="flaky"] .breaker');
                               return b && b.textContent === '–'; }""", timeout=10_000)  # a fresh kernel
                await page.screenshot(path=str(ARTIFACTS / "monitor-reconnected.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        stop.set()
        await asyncio.gather(traffic, return_exceptions=True)
        await client.close()
        if restarted is not None:
            await restarted.cleanup()

    assert not problems, problems
    origin = served.url
    assert requests and all(url.startswith(origin + "/") for url in requests), \
        [url for url in requests if not url.startswith(origin + "/")]  # nothing but this server
    streams = [url for url in requests if "/monitor/stream" in url]
    assert streams and all(url.endswith(f"/monitor/stream?key={KEY}") for url in streams), streams
    assert (ARTIFACTS / "monitor-breaker-open.png").stat().st_size > 10_000
