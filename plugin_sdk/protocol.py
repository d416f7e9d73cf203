"""Wire protocol `qualia/1`: JSON-RPC 2.0, one JSON message per line.

The single definition of the wire format; the kernel imports it from here.
Outgoing messages are typed Structs; incoming ones decode into `Message`,
whose `params`/`result` stay raw until the receiver knows their type.
"""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Raw, UnsetType

from .document import Document

PROTOCOL = "qualia/1"
MAX_LINE_BYTES = 64 * 1024 * 1024
"""The smallest line every peer must accept; readers allow a little more."""

RequestId = int | str


class ErrorObject(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Request(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId
    method: str
    params: Any = None


class Notification(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    method: str
    params: Any = None


class Response(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId | None
    result: Any


class ErrorResponse(msgspec.Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId | None
    error: ErrorObject


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Any incoming message; which fields are set tells its kind."""

    jsonrpc: str | UnsetType = UNSET
    id: RequestId | None | UnsetType = UNSET
    method: str | UnsetType = UNSET
    params: Raw | UnsetType = UNSET
    result: Raw | UnsetType = UNSET
    error: ErrorObject | UnsetType = UNSET


# ---- params and results of each method -------------------------------------

class InitializeParams(msgspec.Struct, kw_only=True):
    protocol: str


class InitializeResult(msgspec.Struct, kw_only=True):
    protocol: str
    id: str
    version: str


class RunParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    document: Document
    config: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    # Extension of qualia/1 (optional, ignored by plugins that do not know it): the
    # caller's X-Request-ID, so a plugin's logs can be matched to the request.
    request_id: str | None = None


class DocumentResult(msgspec.Struct, kw_only=True):
    document: Document


class AnalyzerResult(msgspec.Struct, kw_only=True):
    result: dict[str, Any]


class VisualizerResult(msgspec.Struct, kw_only=True):
    media_type: str
    data: bytes  # base64 in JSON, as msgspec encodes bytes


class ProgressParams(msgspec.Struct, kw_only=True):
    id: RequestId
    done: float
    total: float | None = None


class CancelParams(msgspec.Struct, kw_only=True):
    id: RequestId


METHOD_INITIALIZE = "initialize"
METHOD_RUN = "run"
METHOD_SHUTDOWN = "shutdown"
NOTIFY_EXIT = "exit"
NOTIFY_CANCEL = "$/cancel"
NOTIFY_PROGRESS = "$/progress"


class LineCodec:
    """Encodes messages as `\\n`-terminated lines and decodes lines into `Message`.

    msgspec escapes newlines inside strings, so a message never spans lines.
    One instance per peer: it reuses its buffer and decoder.
    """

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Message)

    def encode(self, message: msgspec.Struct) -> bytearray:
        buffer = bytearray()
        self._encoder.encode_into(message, buffer)
        buffer += b"\n"
        return buffer

    def decode(self, line: bytes) -> Message:
        return self._decoder.decode(line)
