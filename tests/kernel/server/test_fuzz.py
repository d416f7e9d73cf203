"""Schemathesis fuzzes the live server from its own /openapi.json: no 5xx, answers as documented.

The cases are generated from the document the server serves (positive and
negative data); the only change made to it is to draw plugin ids from the
installed plugins plus one unknown id, so the cases reach real plugins
instead of a 404. Bounded: 200 cases, derandomized so a CI run is repeatable.
It runs twice: open, and with API keys on (the document then declares the
bearer scheme; the client sends the key, as a real client of that server
does; half the cases, as the routes are the same).
"""
from __future__ import annotations

import asyncio
import copy
import warnings
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
requests = pytest.importorskip("requests")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,  # noqa: E402
                                               response_schema_conformance, status_code_conformance)

from tests.conftest import problem_plugin  # noqa: E402

from .conftest import json_of  # noqa: E402

CASES = 200
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def with_plugin_ids(doc: dict[str, Any], plugin_ids: list[str]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for item in doc["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "id":
                    parameter["schema"] = {"type": "string", "enum": plugin_ids}
    return doc


def fuzz(url: str, doc: dict[str, Any], headers: dict[str, str] | None = None, cases: int = CASES) -> list[str]:
    """Run the cases (in a worker thread: schemathesis calls are blocking); the failures found."""
    schema = schemathesis.openapi.from_dict(doc)
    strategy = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()
    session.headers.update(headers or {})
    failures: list[str] = []
    statuses: dict[int, int] = {}

    @settings(max_examples=cases, deadline=None, database=None, derandomize=True, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=url, session=session, timeout=20)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # collect them all: one report beats the first failure alone
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{str(exc)[:600]}\n  {case.as_curl_command()[:400]}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesis/schemathesis deprecation chatter, not our code
        run()
    session.close()
    assert sum(statuses.values()) >= cases // 2, statuses
    assert not any(status >= 500 for status in statuses), statuses
    return failures


def fast_dashboard(app: Any) -> None:
    """/monitor/stream never ends: schemathesis reads its first 20 events, so make them come quickly."""
    from qualia.kernel.server.monitor import MONITOR

    app[MONITOR].settings.interval_s = 0.05


KEY = "fuzz-key_7c1e9a3b5d"


@pytest.mark.parametrize("keys", [False, True], ids=["open", "api-keys"])
async def test_schemathesis_finds_no_server_error(serve, plugin_dir, monkeypatch, keys):
    headers = {}
    if keys:
        monkeypatch.setenv("QUALIA_API_KEYS", KEY)
        headers = {"Authorization": f"Bearer {KEY}"}
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(bundled=True, queue_timeout_s=20, setup=fast_dashboard)
    async with served.session.get("/openapi.json", headers=headers) as response:
        doc = await json_of(response)
    assert ("securitySchemes" in doc["components"]) == keys
    plugin_ids = sorted(served.kernel.registry.manifests) + ["nope"]
    cases = CASES // 2 if keys else CASES
    failures = await asyncio.wait_for(
        asyncio.to_thread(fuzz, served.url, with_plugin_ids(doc, plugin_ids), headers, cases), 90)
    assert not failures, "\n".join(failures[:10])
