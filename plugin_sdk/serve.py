"""The stdio serve loop: a plugin is a small class plus `serve(MyPlugin)`.

It guards the protocol: stdout is taken over for JSON-RPC only (anything else
printed, even by C code, lands on stderr); an exception in plugin code becomes
a JSON-RPC error with the traceback in `data`.
"""
from __future__ import annotations

import inspect
import os
import sys
import traceback
from collections import deque
from pathlib import Path
from typing import IO, Any, Callable

import msgspec

from . import protocol as p
from .errors import InternalError, InvalidParams, InvalidRequest, MethodNotFound, ParseError, RpcError
from .manifest import Manifest, ManifestError, load_manifest, validate_config, ConfigError
from .plugin import AnalyzerPlugin, DocumentPlugin, Figure, Plugin, VisualizerPlugin
from .stdin import LineReader


def find_manifest(plugin_cls: type[Plugin]) -> Manifest:
    """The plugin.toml beside the class's module, else in the working directory."""
    candidates = [Path(inspect.getfile(plugin_cls)).resolve().parent, Path.cwd()]
    for folder in candidates:
        if (folder / "plugin.toml").is_file():
            return load_manifest(folder / "plugin.toml")
    raise ManifestError(candidates[0] / "plugin.toml", "not found beside the plugin or in the working directory")


def claim_stdout() -> IO[bytes]:
    """Keep fd 1 for the protocol and point everything else that writes there to stderr."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb")


class PluginHost:
    """Dispatches decoded requests to one plugin instance. Transport-free, so tests can drive it."""

    def __init__(self, plugin: Plugin, manifest: Manifest, send: Any,
                 poll: Callable[[], list[bytes]] | None = None) -> None:
        self.plugin = plugin
        self.poll = poll  # complete input lines available now, for noticing $/cancel mid-run
        self.deferred: deque[bytes] = deque()  # lines read while polling, handled after the run
        self.manifest = manifest
        self.send = send
        self.codec = p.LineCodec()
        self._run_decoder = msgspec.json.Decoder(p.RunParams)
        self._init_decoder = msgspec.json.Decoder(p.InitializeParams)
        self.exiting = False
        plugin.manifest = manifest

    def handle_line(self, line: bytes) -> None:
        try:
            message = self.codec.decode(line)
        except msgspec.ValidationError as exc:  # JSON, but not a JSON-RPC message
            self._reply_error(None, InvalidRequest(f"invalid JSON-RPC message: {exc}"))
            return
        except msgspec.DecodeError as exc:
            self._reply_error(None, ParseError(f"invalid JSON: {exc}"))
            return
        if message.method is msgspec.UNSET:
            return  # a response or stray message: plugins make no requests, so ignore
        if message.id is msgspec.UNSET:
            self._notification(message)
            return
        try:
            result = self._request(message)
        except RpcError as exc:
            self._reply_error(message.id, exc)
        except Exception as exc:  # plugin code failed: report it, keep serving
            # JSON-RPC 2.0: an error the plugin did not handle is an internal error (-32603)
            self._reply_error(message.id, InternalError(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        else:
            self.send(p.Response(id=message.id, result=result))

    def _notification(self, message: p.Message) -> None:
        if message.method == p.NOTIFY_EXIT:
            self.exiting = True
        # A $/cancel seen here is for a run that already answered: nothing to do.

    def _request(self, message: p.Message) -> Any:
        method = message.method
        raw = message.params if message.params is not msgspec.UNSET else b"null"
        if method == p.METHOD_RUN:
            try:
                params = self._run_decoder.decode(raw)
            except msgspec.ValidationError as exc:
                raise InvalidParams(f"run params: {exc}") from None
            return self._run(message.id, params)
        if method == p.METHOD_INITIALIZE:
            try:
                init = self._init_decoder.decode(raw)
            except msgspec.ValidationError as exc:
                raise InvalidParams(f"initialize params: {exc}") from None
            if init.protocol != p.PROTOCOL:
                raise InvalidRequest(f"unsupported protocol {init.protocol!r}, this plugin speaks {p.PROTOCOL}")
            self.plugin.setup()
            return p.InitializeResult(protocol=p.PROTOCOL, id=self.manifest.id, version=self.manifest.version)
        if method == p.METHOD_SHUTDOWN:
            return None
        raise MethodNotFound(f"unknown method {method!r}")

    def _run(self, request_id: p.RequestId, params: p.RunParams) -> Any:
        try:
            config = validate_config(self.manifest, params.config)
        except ConfigError as exc:
            raise InvalidParams(str(exc), {"key": exc.key}) from None

        def report(done: float, total: float | None) -> None:
            self.send(p.Notification(method=p.NOTIFY_PROGRESS, params=p.ProgressParams(id=request_id, done=done, total=total)))

        plugin = self.plugin
        plugin._progress = report
        cancelled = False

        def cancel_requested() -> bool:
            nonlocal cancelled
            if not cancelled and self.poll is not None:
                for line in self.poll():
                    if self._is_cancel_of(line, request_id):
                        cancelled = True
                    else:
                        self.deferred.append(line)
            return cancelled

        plugin._cancel_check = cancel_requested
        try:
            if isinstance(plugin, AnalyzerPlugin):
                return p.AnalyzerResult(result=plugin.analyze(params.document, config, params.inputs))
            if isinstance(plugin, DocumentPlugin):
                return p.DocumentResult(document=plugin.process(params.document, config))
            if isinstance(plugin, VisualizerPlugin):
                figure = plugin.render(params.document, config, params.inputs)
                if not isinstance(figure, Figure):
                    raise TypeError(f"render() must return a Figure, got {type(figure).__name__}")
                return p.VisualizerResult(media_type=figure.media_type, data=figure.data)
            raise TypeError(f"{type(plugin).__name__} is not an Analyzer, Document or Visualizer plugin")
        finally:
            plugin._progress = None
            plugin._cancel_check = None

    def _is_cancel_of(self, line: bytes, request_id: p.RequestId) -> bool:
        try:
            message = self.codec.decode(line)
        except msgspec.DecodeError:
            return False
        if message.method != p.NOTIFY_CANCEL or message.params is msgspec.UNSET:
            return False
        try:
            return msgspec.json.decode(message.params, type=p.CancelParams).id == request_id
        except msgspec.ValidationError:
            return False

    def _reply_error(self, request_id: Any, exc: RpcError) -> None:
        error = p.ErrorObject(code=exc.code, message=exc.message, data=exc.data)
        self.send(p.ErrorResponse(id=request_id, error=error))


def serve(plugin_cls: type[Plugin], *, manifest: Manifest | None = None) -> None:
    """Run the plugin over stdin/stdout until `exit` or end of input."""
    out = claim_stdout()
    codec = p.LineCodec()

    def send(message: msgspec.Struct) -> None:
        out.write(codec.encode(message))
        out.flush()

    reader = LineReader(sys.stdin.fileno())
    host = PluginHost(plugin_cls(), manifest or find_manifest(plugin_cls), send, poll=reader.ready_lines)
    while not host.exiting:
        line = host.deferred.popleft() if host.deferred else reader.readline()
        if not line:
            break
        if line.strip():
            host.handle_line(line)
