"""Bounds of what a client can make the front do: paths, plugin ids, body sizes and JSON depth."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import aiohttp
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from qualia.kernel.server.bodies import check_json_depth, json_depth
from qualia.kernel.server.jobs_service import JOBS
from qualia.kernel.signatures import sign_body
from tests.conftest import problem_plugin

from .conftest import error_of, json_of


def tree(root: Path, skip: Path) -> dict[str, tuple[int, str]]:
    """Every file under `root` but `skip` (the data home: the cache writes there), with size and hash."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and skip not in path.parents:
            found[str(path.relative_to(root))] = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


async def test_upload_names_are_metadata_only_and_never_paths(serve, plugin_dir, tmp_path, monkeypatch):
    problem_plugin(plugin_dir, "meta", "metadata")
    workdir = tmp_path / "work" / "a" / "b"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)  # "../../etc/passwd" from here would be tmp_path/work/etc/passwd
    served = await serve()
    home = served.kernel.settings.home
    before = tree(tmp_path, home)
    etc_passwd = Path("/etc/passwd")
    passwd_before = etc_passwd.read_bytes() if etc_passwd.exists() else None
    # None: whatever the client's encoding made of it, one harmless name without separators.
    names = {"../../etc/passwd": "passwd", "/etc/passwd": "passwd", "..\\..\\windows\\win.ini": "win.ini",
             "..%2F..%2Fetc%2Fpasswd": None, "%2e%2e%2f%2e%2e%2fetc%2fpasswd": None,
             "../../": "", "C:\\Users\\ana\\..\\notas.txt": "notas.txt", "./.": ""}
    for name, kept in names.items():
        form = aiohttp.FormData()
        form.add_field("file", b"root:x:0:0:owned", filename=name, content_type="text/plain")
        form.add_field("cache", "false")
        async with served.session.post("/analyze/meta/file", data=form) as r:
            seen = (await json_of(r))["result"]
        assert seen["echo"] == "root:x:0:0:owned"
        filename = seen["metadata"].get("filename", "")
        assert not any(ch in filename for ch in "/\\\x00") and filename not in (".", ".."), (name, filename)
        if kept is not None:
            assert filename == kept, name
    assert tree(tmp_path, home) == before, "an upload changed files on disk"
    assert not list(tmp_path.rglob("passwd")) and not list(tmp_path.rglob("win.ini"))
    assert (etc_passwd.read_bytes() if etc_passwd.exists() else None) == passwd_before
    assert all(p.suffix in (".sqlite3", ".sqlite3-wal", ".sqlite3-shm", "") or p.is_dir()
               or p.parent == home / "run"  # the kernel's record of its plugins' process groups
               for p in home.rglob("*")), sorted(map(str, home.rglob("*")))


ODD_IDS = [
    "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "..", ".", "ECHO", "echo%00",
    "echo%0Aevil", "ech%C3%B6", "echo%20", "1echo", "_echo", "echo-1", "a" * 300, "%252e%252e", "echo;rm",
    "%C0%AE%C0%AE", "echo%2F..%2Fecho",
]


async def test_odd_plugin_ids_in_urls_are_404_and_start_nothing(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    async with aiohttp.ClientSession() as client:
        for odd in ODD_IDS:
            for method, template in (("GET", "/plugins/{}"), ("POST", "/analyze/{}"), ("POST", "/analyze/{}/file"),
                                     ("POST", "/process/{}"), ("POST", "/visualize/{}")):
                url = URL(served.url + template.format(odd), encoded=True)  # sent exactly as written
                async with client.request(method, url, json={"text": "x"}) as r:
                    error = await error_of(r, 404)
                assert error["code"] in ("unknown_plugin", "not_found"), (odd, error)
                if error["code"] == "unknown_plugin":
                    assert "is not a plugin id" in error["message"] or "unknown plugin" in error["message"]
        for raw in ("/plugins/../../etc/passwd", "/plugins/./echo/..", "/analyze/../../../etc/passwd"):
            async with client.get(URL(served.url + raw, encoded=True)) as r:
                assert r.status in (404, 405), raw
                await error_of(r, r.status)
    assert served.kernel.status() == {}, "an odd id started a plugin"
    async with served.session.get("/plugins/echo") as r:
        assert (await json_of(r))["id"] == "echo"


async def test_every_json_route_is_bounded_in_size(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(server={"max_upload_bytes": 4096})
    big = {"text": "x" * 8000}
    for path, body in (("/analyze/echo", big), ("/pipeline", {**big, "steps": []}),
                       ("/jobs", {**big, "plugin": "echo"})):
        async with served.session.post(path, json=body) as r:
            error = await error_of(r, 413, "payload_too_large")
        assert error["details"]["max_bytes"] == 4096 and "QUALIA_MAX_UPLOAD_BYTES" in error["message"], path
    assert served.kernel.status() == {}


def nested(depth: int) -> object:
    """Arrays and objects `depth` levels deep, an object outermost."""
    value: object = 1
    for level in range(depth):
        value = {"k": value} if (depth - level) % 2 else [value]
    return value


def body_of_depth(depth: int) -> dict:
    return {"text": "x", "inputs": nested(depth - 1)}  # the body's own braces are a level


async def test_json_depth_is_bounded(serve, plugin_dir, monkeypatch):
    problem_plugin(plugin_dir, "echo", "ok")
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET", "hook-secret")
    served = await serve()
    session = served.session
    async with session.post("/analyze/echo", json=body_of_depth(64)) as r:  # at the limit: as usual
        assert r.status == 200, await r.text()
    for depth in (65, 1000, 200_000):
        body = json.dumps(body_of_depth(depth)) if depth < 900 else (
            '{"text": "x", "inputs": {"a": ' + "[" * depth + "]" * depth + "}}")
        async with session.post("/analyze/echo", data=body, headers={"Content-Type": "application/json"}) as r:
            error = await error_of(r, 400, "json_too_deep")
        assert error["details"]["max_depth"] == 64 and "limit of 64 levels" in error["message"]
    async with session.post("/jobs", json={"plugin": "echo", "text": "x", "config": nested(80)}) as r:
        await error_of(r, 400, "json_too_deep")
    form = aiohttp.FormData()
    form.add_field("file", b"text", filename="a.txt")
    form.add_field("config", "[" * 5000 + "]" * 5000)
    async with session.post("/analyze/echo/file", data=form) as r:
        error = await error_of(r, 400, "json_too_deep")
    assert error["details"]["field"] == "config"
    deep_hook = json.dumps({"plugin": "echo", "text": "x", "config": nested(100)}).encode()
    async with session.post("/webhook/custom", data=deep_hook, headers={
            "Content-Type": "application/json", "X-Qualia-Signature": sign_body("hook-secret", deep_hook)}) as r:
        await error_of(r, 400, "json_too_deep")
    async with session.post("/webhook/custom", data=deep_hook, headers={
            "Content-Type": "application/json", "X-Qualia-Signature": "sha256=00"}) as r:
        await error_of(r, 401, "unauthorized")  # the signature is checked before the body is looked at
    assert served.kernel.status()["echo"].calls == 1 and served.app[JOBS].store.count() == 0
    # Brackets inside strings are text, not nesting.
    async with session.post("/analyze/echo", json={"text": "[" * 500 + "{" * 500}) as r:
        assert r.status == 200


async def test_the_depth_limit_is_a_setting(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(server={"max_json_depth": 3})
    async with served.session.post("/analyze/echo", json={"text": "x", "inputs": {"a": {"b": 1}}}) as r:
        assert r.status == 200
    async with served.session.post("/analyze/echo", json={"text": "x", "inputs": {"a": {"b": [1]}}}) as r:
        error = await error_of(r, 400, "json_too_deep")
    assert "limit of 3 levels" in error["message"]


def reference_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n\u00e9'),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), inner, max_size=4),
                    max_leaves=40)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(JSON, st.booleans())
def test_the_byte_scan_agrees_with_the_decoded_depth(value, compact):
    text = msgspec.json.encode(value) if compact else json.dumps(value, indent=1, ensure_ascii=False).encode()
    assert json_depth(text) == reference_depth(value)
    assert json_depth(text.decode()) == reference_depth(value)
    limit = reference_depth(value)
    check_json_depth(text, limit)
    if limit:
        with pytest.raises(Exception, match="deeper than the limit"):
            check_json_depth(text, limit - 1)


def test_the_check_is_cheap_for_ordinary_bodies():
    body = json.dumps({"text": "palavra " * 5000, "config": {"top_n": 10}}).encode()
    import time

    started = time.perf_counter()
    for _ in range(2000):
        check_json_depth(body)
    assert (time.perf_counter() - started) / 2000 < 200e-6
    assert os.environ.get("QUALIA_MAX_JSON_DEPTH") is None


def test_the_depth_setting_from_the_environment():
    from qualia.kernel.server import ServerSettings

    assert ServerSettings.from_env({}).max_json_depth == 64
    assert ServerSettings.from_env({"QUALIA_MAX_JSON_DEPTH": "16"}).max_json_depth == 16
    for bad in ("0", "deep"):
        with pytest.raises(ValueError, match="QUALIA_MAX_JSON_DEPTH"):
            ServerSettings.from_env({"QUALIA_MAX_JSON_DEPTH": bad})
