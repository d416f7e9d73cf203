"""`qualia plugins check`: a conformance run of one plugin, in any language, with a report an author can act on.

The plugin is started as the kernel starts it (its `command`, its folder as
working directory) and driven over the wire directly, line by line, so each rule
of the contract is observed on its own: the handshake matches the manifest;
`run` answers the sample documents with a result of the plugin's kind, within
its timeout, the same way twice (the cache relies on it); an unknown method is
-32601 and malformed params are -32602, and the plugin keeps serving after both;
nothing but JSON-RPC appears on stdout; `shutdown` then `exit` ends it with 0.
Inputs a plugin `requires` are made by the installed providers through a kernel.
"""
from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import time
from collections import deque
from typing import Any, Literal

import msgspec

from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document
from qualia.plugin_sdk.manifest import FORMAT_MEDIA_TYPES, Manifest, validate_config
from qualia.plugin_sdk.samples import SAMPLE_DOCUMENTS

from .errors import QualiaError
from .pipeline import plan_for_target, run_plan
from .versions import kernel_mismatch, kernel_version

Status = Literal["ok", "warn", "fail", "skip"]
READ_LIMIT = p.MAX_LINE_BYTES + 1024 * 1024
_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "svg": (b"<svg", b"<?xml"), "html": (b"<!doctype", b"<html")}


class Check(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    status: Status
    message: str
    hint: str = ""


class ConformanceReport(msgspec.Struct, kw_only=True):
    plugin: str
    version: str
    kind: str
    path: str
    command: list[str]
    ok: bool
    checks: list[Check]
    stderr_tail: list[str]


class _Broken(Exception):
    """The conversation cannot go on (stdout violated, the process died, no answer): later checks are skipped."""


class _Wire:
    """One plugin process and its raw JSON-RPC lines."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.command = [sys.executable if part == "{python}" else part for part in manifest.command]
        self.stderr: deque[str] = deque(maxlen=40)
        self.notifications: list[dict[str, Any]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = 0
        self._stderr_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command, cwd=self.manifest.path, env={**os.environ, "QUALIA_PLUGIN_ID": self.manifest.id},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=READ_LIMIT, start_new_session=True)
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr.append(line.decode("utf-8", "replace").rstrip()[:2000])

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(msgspec.json.encode(message) + b"\n")

    async def request(self, method: str, params: Any, timeout: float) -> dict[str, Any]:
        self._ids += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._ids, "method": method}
        if params is not None:
            message["params"] = params
        try:
            self.send(message)
        except (BrokenPipeError, ConnectionResetError):
            raise _Broken(f"the process closed its stdin (exit code {await self._exit_code()})") from None
        deadline = time.monotonic() + timeout
        while True:
            line = await self._readline(deadline, method)
            try:
                answer = msgspec.json.decode(line)
            except msgspec.DecodeError:
                answer = None
            if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
                raise _Broken(f"wrote a line on stdout that is not a JSON-RPC message: {line[:200]!r}")
            if "method" in answer and "id" not in answer:
                self.notifications.append(answer)
                continue
            if answer.get("id") != self._ids:
                raise _Broken(f"answered id {answer.get('id')!r} to request {self._ids} ({method})")
            if ("result" in answer) == ("error" in answer):
                raise _Broken(f"answer to {method} must have exactly one of result and error: {line[:200]!r}")
            return answer

    async def _readline(self, deadline: float, method: str) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise _Broken(f"no answer to {method} in time") from None
        except ValueError:
            raise _Broken(f"a line on stdout longer than {READ_LIMIT} bytes") from None
        if not line:
            raise _Broken(f"closed its stdout while answering {method} (exit code {await self._exit_code()})")
        return line

    async def _exit_code(self) -> int | None:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), 1.0)
        except asyncio.TimeoutError:
            return None

    async def finish(self, grace: float) -> tuple[int | None, bool]:
        """Wait for the exit after shutdown/exit; (exit code, whether it had to be killed)."""
        assert self.proc is not None
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            code = await asyncio.wait_for(self.proc.wait(), grace)
            killed = False
        except asyncio.TimeoutError:
            self.kill()
            code, killed = await self.proc.wait(), True
        if self._stderr_task is not None:
            try:
                await asyncio.wait_for(self._stderr_task, 1.0)
            except asyncio.TimeoutError:
                self._stderr_task.cancel()
        return code, killed

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _error_code(answer: dict[str, Any]) -> int | None:
    error = answer.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _error_text(answer: dict[str, Any]) -> str:
    error = answer.get("error") or {}
    return f"error {error.get('code')}: {error.get('message')}"


def _shape_problem(manifest: Manifest, result: Any, fmt: str | None) -> str | None:
    """Why `result` is not what a plugin of this kind returns, or None."""
    kind_types = {"analyzer": p.AnalyzerResult, "document": p.DocumentResult, "visualizer": p.VisualizerResult}
    try:
        typed = msgspec.convert(result, kind_types[manifest.kind], strict=False)
    except msgspec.ValidationError as exc:
        expected = {"analyzer": '{"result": {...}}', "document": '{"document": {"text": ..., ...}}',
                    "visualizer": '{"media_type": ..., "data": base64}'}[manifest.kind]
        return f"the result is not a {manifest.kind} result {expected}: {exc}"
    if isinstance(typed, p.VisualizerResult) and fmt is not None:
        if not typed.data:
            return "the figure is empty"
        want = FORMAT_MEDIA_TYPES[fmt]
        if typed.media_type.split(";")[0].strip() != want.split(";")[0]:
            return f"format {fmt!r} answered media_type {typed.media_type!r}, expected {want!r}"
        # PNG's signature is binary and case-sensitive; SVG and HTML may start with blanks or any case.
        head = typed.data[:8] if fmt == "png" else typed.data[:512].lstrip().lower()
        if not any(head.startswith(magic) for magic in _MAGIC[fmt]):
            return f"format {fmt!r}: the data does not look like {fmt} (starts {typed.data[:16]!r})"
    return None


async def _inputs_for(kernel: Any, manifest: Manifest, document: Document) -> dict[str, Any]:
    """The artefacts `manifest` requires, made from `document` by the installed providers."""
    if not manifest.requires:
        return {}
    plan = plan_for_target(kernel, manifest.id)[:-1]
    run = await run_plan(kernel, plan, document, use_cache=False)
    artefacts: dict[str, Any] = {}
    for planned, step in zip(plan, run.steps):
        for name in planned.manifest.provides:
            if step.result is not None:
                artefacts[name] = step.result
            elif step.document is not None and name == "segments":
                artefacts[name] = msgspec.to_builtins(step.document.segments)
    return {name: artefacts[name] for name in manifest.requires if name in artefacts}


async def check_plugin(manifest: Manifest, kernel: Any, *, start_timeout_s: float = 10.0,
                       grace_s: float = 3.0) -> ConformanceReport:
    """Run every check on the plugin of `manifest`; `kernel` (started) makes the inputs it requires."""
    checks: list[Check] = []

    def add(name: str, status: Status, message: str, hint: str = "") -> None:
        checks.append(Check(name=name, status=status, message=message, hint=hint))

    mismatch = kernel_mismatch(manifest)
    add("manifest", "fail" if mismatch else "ok", mismatch or
        f"plugin.toml is valid: {manifest.kind}, api {manifest.api}"
        + (f", kernel {manifest.kernel} accepts {kernel_version()}" if manifest.kernel else ""))
    wire = _Wire(manifest)
    started = time.monotonic()
    try:
        await wire.start()
    except OSError as exc:
        add("start", "fail", f"could not start {wire.command} in {manifest.path}: {exc}",
            "`command` runs with the plugin folder as working directory; is the program on PATH?")
        return _report(manifest, wire, checks)
    try:
        await _converse(manifest, kernel, wire, add, started, start_timeout_s)
        answer = await wire.request(p.METHOD_SHUTDOWN, None, grace_s)
        if "error" in answer or answer.get("result") is not None:
            add("shutdown", "fail", f"shutdown answered {answer}, expected the result null")
        wire.send({"jsonrpc": "2.0", "method": p.NOTIFY_EXIT})
        code, killed = await wire.finish(grace_s)
        if killed:
            add("exit", "fail", f"still running {grace_s:g} s after shutdown and exit: killed",
                "exit when the `exit` notification arrives (or stdin closes)")
        elif code != 0:
            add("exit", "warn", f"exited with code {code} after shutdown and exit (expected 0)")
        else:
            add("exit", "ok", "shutdown answered null; exit ended the process with code 0")
    except _Broken as exc:
        add("protocol", "fail", str(exc), "stdout carries only JSON-RPC, one message per line; print to stderr")
        wire.kill()
        await wire.finish(0.5)
    except (Exception, asyncio.CancelledError):
        wire.kill()
        raise
    return _report(manifest, wire, checks)


async def _converse(manifest: Manifest, kernel: Any, wire: _Wire, add: Any, started: float,
                    start_timeout_s: float) -> None:
    hello = await wire.request(p.METHOD_INITIALIZE, {"protocol": p.PROTOCOL}, start_timeout_s)
    if "error" in hello:
        add("handshake", "fail", f"initialize answered {_error_text(hello)}")
        raise _Broken("no handshake")
    result = hello.get("result") if isinstance(hello.get("result"), dict) else {}
    wrong = [f"{key} {result.get(key)!r} (plugin.toml says {want!r})" for key, want in
             (("protocol", p.PROTOCOL), ("id", manifest.id), ("version", manifest.version)) if result.get(key) != want]
    if wrong:
        add("handshake", "fail", "initialize answered " + ", ".join(wrong),
            "answer initialize with the protocol, id and version of plugin.toml")
        raise _Broken("handshake does not match the manifest")
    add("handshake", "ok", f"initialize answered in {(time.monotonic() - started) * 1000:.0f} ms: "
                           f"{p.PROTOCOL}, id {manifest.id}, version {manifest.version}")

    formats: list[str | None] = list(manifest.formats) if manifest.kind == "visualizer" else [None]
    first: tuple[Any, Any] | None = None
    for document in SAMPLE_DOCUMENTS:
        try:
            inputs = await _inputs_for(kernel, manifest, document)
        except QualiaError as exc:
            add(f"run {document.id}", "skip", f"cannot make the inputs it requires: {exc.message}")
            continue
        missing = [name for name in manifest.requires if name not in inputs]
        if missing:
            add(f"run {document.id}", "skip", f"no installed plugin provides {missing}")
            continue
        for fmt in formats:
            config = validate_config(manifest, {"format": fmt} if fmt else {})
            params = {"document": msgspec.to_builtins(document), "config": config, "inputs": inputs}
            label = f"run {document.id}" + (f" ({fmt})" if fmt else "")
            began = time.monotonic()
            answer = await wire.request(p.METHOD_RUN, params, manifest.timeout_s)
            elapsed = (time.monotonic() - began) * 1000
            if _error_code(answer) == -32602:
                add(label, "warn", f"rejected the sample document as the caller's fault: {_error_text(answer)}")
                continue
            if "error" in answer:
                data = answer["error"].get("data")
                add(label, "fail", _error_text(answer) + (f"\n{data}" if isinstance(data, str) else ""),
                    "an error other than -32602 is the plugin's fault: the kernel answers 502 and counts it")
                continue
            problem = _shape_problem(manifest, answer["result"], fmt)
            add(label, "fail" if problem else "ok", problem or f"{manifest.kind} result in {elapsed:.0f} ms")
            if first is None and problem is None:
                first = (params, answer["result"])
    if first is not None:
        again = await wire.request(p.METHOD_RUN, first[0], manifest.timeout_s)
        same = again.get("result") == first[1]
        add("deterministic", "ok" if same else "warn",
            "the same run gave the same result twice" if same else "the same run gave different results",
            "" if same else "results are cached by plugin, version, code, config and input: a later call "
                            "gets the first result")

    unknown = await wire.request("qualia.check/unknown_method", {}, start_timeout_s)
    code = _error_code(unknown)
    add("unknown method", "ok" if code == -32601 else "fail",
        "an unknown method is answered with -32601" if code == -32601 else
        f"an unknown method was answered with {_error_text(unknown) if code else 'a result'}, expected -32601",
        "" if code == -32601 else "answer requests whose method you do not know with error -32601")

    bad = await wire.request(p.METHOD_RUN, {"document": 42, "config": {}, "inputs": {}}, start_timeout_s)
    code = _error_code(bad)
    add("invalid params", "ok" if code == -32602 else "fail",
        "run with a malformed document is answered with -32602" if code == -32602 else
        f"run with a malformed document was answered with {_error_text(bad) if code else 'a result'}, "
        f"expected -32602", "" if code == -32602 else "answer run params you cannot use with error -32602 "
                                                      "(the caller's fault: HTTP 422)")
    add("stdout", "ok", "every line on stdout was a JSON-RPC message"
        + (f" ({len(wire.notifications)} $/progress)" if wire.notifications else ""))


def _report(manifest: Manifest, wire: _Wire, checks: list[Check]) -> ConformanceReport:
    return ConformanceReport(plugin=manifest.id, version=manifest.version, kind=manifest.kind, path=manifest.path,
                             command=wire.command, ok=not any(check.status == "fail" for check in checks),
                             checks=checks, stderr_tail=list(wire.stderr))
