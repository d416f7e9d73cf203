"""Test helpers for plugin authors: the plugin in-process, or as a real child process.

- `PluginHarness(MyPlugin)` drives a Python SDK plugin in-process through the real
  wire encoding: every call is encoded to a JSON-RPC line and the answer decoded
  back, so what passes here passes the pipe too; only the process hop is skipped.
- `PluginClient(folder)` starts the plugin in `folder` as the kernel would (its
  manifest's `command`, the folder as working directory) and talks to it line by
  line, in any language; anything on stdout that is not JSON-RPC fails the test.
- `converse(folder, runs)` is the one-shot form: every answer of a whole session.

The pytest plugin (`qualia.plugin_sdk.pytest_plugin`, loaded automatically once
qualia-core is installed) wraps these as fixtures, with a real kernel in front:
see docs/plugin-authoring.md, "Testing".
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from . import protocol as p
from .document import Document
from .errors import RpcError
from .plugin import Plugin
from .manifest import load_manifest
from .serve import PluginHost, find_manifest


class PluginHarness:
    """A Python plugin class driven in-process; `run` answers what the kernel would receive."""

    def __init__(self, plugin_cls: type[Plugin]) -> None:
        self._codec = p.LineCodec()
        self._sent: list[bytes] = []
        self.progress: list[p.ProgressParams] = []
        self.host = PluginHost(plugin_cls(), find_manifest(plugin_cls), lambda m: self._sent.append(self._codec.encode(m)))
        self._next_id = 0
        self.call("initialize", p.InitializeParams(protocol=p.PROTOCOL))

    @property
    def plugin(self) -> Plugin:
        return self.host.plugin

    def call(self, method: str, params: Any) -> msgspec.Raw:
        """Send one request; return the raw result or raise the RpcError the plugin answered."""
        self._next_id += 1
        self.host.handle_line(self._codec.encode(p.Request(id=self._next_id, method=method, params=params)))
        for line in self._sent:
            message = self._codec.decode(line)
            if message.method == p.NOTIFY_PROGRESS:
                self.progress.append(msgspec.json.decode(message.params, type=p.ProgressParams))
            elif message.error is not msgspec.UNSET:
                self._sent.clear()
                raise RpcError.from_wire(message.error.code, message.error.message, message.error.data)
            elif message.result is not msgspec.UNSET:
                self._sent.clear()
                return message.result
        raise AssertionError("the plugin sent no answer")

    def run(self, document: Document | str, config: dict[str, Any] | None = None,
            inputs: dict[str, Any] | None = None) -> Any:
        """Run the plugin; return the decoded result (dict, Document, or VisualizerResult)."""
        if isinstance(document, str):
            document = Document(text=document)
        params = p.RunParams(document=document, config=config or {}, inputs=inputs or {})
        raw = self.call(p.METHOD_RUN, params)
        kind = self.host.manifest.kind
        if kind == "analyzer":
            return msgspec.json.decode(raw, type=p.AnalyzerResult).result
        if kind == "document":
            return msgspec.json.decode(raw, type=p.DocumentResult).document
        return msgspec.json.decode(raw, type=p.VisualizerResult)


def load_plugin_class(folder: Path) -> type[Plugin]:
    """The SDK Plugin class of the Python plugin in `folder`, found from its manifest's command.

    `["{python}", "plugin.py"]` imports that file; `["{python}", "-m", "pkg"]` imports `pkg` (it must be
    importable: installed, or its parent on sys.path). The module must define exactly one Plugin subclass.
    """
    folder = Path(folder).resolve()
    manifest = load_manifest(folder / "plugin.toml")
    args = manifest.command[1:] if manifest.command[0] in ("{python}", "python", "python3") else []
    if len(args) >= 2 and args[0] == "-m":
        module = importlib.import_module(args[1].removesuffix(".__main__"))
    elif args and args[0].endswith(".py"):
        path = (folder / args[0]).resolve()
        name = f"_qualia_plugin_{manifest.id}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        raise ValueError(f"{folder}: the command {manifest.command} does not run a Python file or module; "
                         f"test it as a process (PluginClient, the qualia_process fixture)")
    found = [obj for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, Plugin) and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise ValueError(f"{module.__name__} defines {len(found)} Plugin classes ({[c.__name__ for c in found]}); "
                         f"pass the class to PluginHarness yourself")
    return found[0]


class PluginClient:
    """The plugin in `folder` as a real child process, driven line by line (any language).

    Started like the kernel starts it: the manifest's `command` (`{python}` is this interpreter),
    the folder as working directory, `QUALIA_PLUGIN_ID` set; the handshake runs at once and
    `hello` holds its answer. Each answer is read with a deadline (`timeout`); stderr is drained
    continuously into `stderr_tail`; `$/progress` notifications collect in `notifications`.
    A line on stdout that is not a JSON-RPC message raises AssertionError: stdout is the protocol.
    """

    def __init__(self, folder: Path, *, timeout: float = 30.0, env: dict[str, str] | None = None,
                 handshake: bool = True) -> None:
        self.folder = Path(folder).resolve()
        self.manifest = load_manifest(self.folder / "plugin.toml")
        self.timeout = timeout
        self.stderr_tail: deque[str] = deque(maxlen=200)
        self.notifications: list[dict[str, Any]] = []
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._next_id = 0
        command = [sys.executable if part == "{python}" else part for part in self.manifest.command]
        environment = {**os.environ, **(env or {}), "QUALIA_PLUGIN_ID": self.manifest.id}
        self.process = subprocess.Popen(command, cwd=self.folder, env=environment, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        self.hello: dict[str, Any] | None = None
        if handshake:
            try:
                self.hello = self.call(p.METHOD_INITIALIZE, {"protocol": p.PROTOCOL})
            except BaseException:
                self.kill()
                raise

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # end of output

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def _explain(self) -> str:
        tail = "\n".join(list(self.stderr_tail)[-20:])
        return f"\n--- stderr of {self.manifest.id} ---\n{tail}" if tail else ""

    def send(self, message: dict[str, Any] | bytes) -> None:
        """Write one message (a dict is encoded as one JSON line; bytes are sent as they are)."""
        assert self.process.stdin is not None
        data = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8") + b"\n"
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def read(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message from the plugin."""
        try:
            line = self._lines.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise AssertionError(f"{self.manifest.id} sent nothing within {timeout or self.timeout:g} s"
                                 + self._explain()) from None
        if not line:
            self._lines.put(b"")
            raise AssertionError(f"{self.manifest.id} closed its stdout (exit code {self.process.poll()})"
                                 + self._explain())
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise AssertionError(f"{self.manifest.id} wrote a line on stdout that is not a JSON-RPC message: "
                                 f"{line[:200]!r} (print to stderr instead)" + self._explain())
        return message

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request; return the whole answer (`result` or `error`), collecting notifications meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = msgspec.to_builtins(params)
        self.send(message)
        while True:
            answer = self.read()
            if "id" not in answer and "method" in answer:
                self.notifications.append(answer)
                continue
            if answer.get("id") != self._next_id:
                raise AssertionError(f"{self.manifest.id} answered id {answer.get('id')!r} to request "
                                     f"{self._next_id}: {answer}")
            return answer

    def call(self, method: str, params: Any = None) -> Any:
        """Send a request; return its result or raise the RpcError the plugin answered."""
        answer = self.request(method, params)
        if "error" in answer:
            error = answer["error"]
            raise RpcError.from_wire(error.get("code", 0), error.get("message", ""), error.get("data"))
        return answer.get("result")

    def run(self, document: Document | str, config: dict[str, Any] | None = None,
            inputs: dict[str, Any] | None = None) -> Any:
        """One `run`: an analyzer's result dict, a document plugin's Document, a visualizer's VisualizerResult."""
        if isinstance(document, str):
            document = Document(text=document)
        params = {"document": msgspec.to_builtins(document), "config": config or {}, "inputs": inputs or {}}
        result = self.call(p.METHOD_RUN, params)
        kind = self.manifest.kind
        if kind == "analyzer":
            return msgspec.convert(result, p.AnalyzerResult).result
        if kind == "document":
            return msgspec.convert(result, p.DocumentResult).document
        return msgspec.convert(result, p.VisualizerResult, strict=False)

    def close(self, timeout: float = 5.0) -> int:
        """`shutdown`, then `exit`; return the exit code (killed after `timeout`: then AssertionError)."""
        if self.process.poll() is None:
            try:
                self.call(p.METHOD_SHUTDOWN)
                self.send({"jsonrpc": "2.0", "method": p.NOTIFY_EXIT})
            except (OSError, AssertionError, RpcError):
                pass  # judged by how it exits
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.manifest.id} did not exit within {timeout:g} s of shutdown/exit"
                                     + self._explain()) from None
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def __enter__(self) -> "PluginClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.close()
        finally:
            self.kill()


def converse(folder: Path, runs: list[dict[str, Any]], *, timeout: float = 60) -> list[dict[str, Any]]:
    """Start the plugin in `folder` as a real process (its manifest's command, its folder as working
    directory) and send `initialize`, one `run` per params in `runs`, `shutdown` and `exit`.

    Returns every message the plugin wrote, in order: the `initialize` answer (id 1), one answer per
    run (ids 2, 3, ...: `{"result": ...}` or `{"error": {"code", "message", "data"}}`, not decoded, so a
    test can check the exact wire form), any `$/progress` notifications, and the `shutdown` answer.
    Fails if the process does not exit cleanly. `PluginClient` is the interactive form.
    """
    manifest = load_manifest(folder / "plugin.toml")
    command = [sys.executable if part == "{python}" else part for part in manifest.command]
    messages: list[dict[str, Any]] = [{"jsonrpc": "2.0", "id": 1, "method": p.METHOD_INITIALIZE,
                                       "params": {"protocol": p.PROTOCOL}}]
    messages += [{"jsonrpc": "2.0", "id": index, "method": p.METHOD_RUN, "params": params}
                 for index, params in enumerate(runs, start=2)]
    messages += [{"jsonrpc": "2.0", "id": len(runs) + 2, "method": p.METHOD_SHUTDOWN},
                 {"jsonrpc": "2.0", "method": p.NOTIFY_EXIT}]
    done = subprocess.run(command, cwd=folder, timeout=timeout, capture_output=True,
                          input=b"".join(json.dumps(m).encode("utf-8") + b"\n" for m in messages))
    if done.returncode != 0:
        raise AssertionError(f"plugin {manifest.id} exited with {done.returncode}: "
                             f"{done.stderr.decode('utf-8', 'replace')[-2000:]}")
    return [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
