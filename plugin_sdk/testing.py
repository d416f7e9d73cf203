"""Drive a plugin in-process through the real wire encoding, for plugin unit tests.

Every call is encoded to a JSON-RPC line and the answer decoded back, so what
passes here passes the pipe too; only the process hop is skipped. Use the
kernel (see tests/kernel) for tests that need a real child process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
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


def converse(folder: Path, runs: list[dict[str, Any]], *, timeout: float = 60) -> list[dict[str, Any]]:
    """Start the plugin in `folder` as a real process (its manifest's command, its folder as working
    directory) and send `initialize`, one `run` per params in `runs`, `shutdown` and `exit`.

    Returns every answer in order (ids 1, 2, ... as sent); fails if the process does not exit cleanly.
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
