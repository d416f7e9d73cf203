"""JSON-RPC errors as types, the same on both sides of the pipe.

Each class carries its code; `RpcError.from_wire` rebuilds the right class
from an error object so the kernel can tell a caller fault (-32602) from a
plugin fault (anything else).
"""
from __future__ import annotations

from typing import Any, ClassVar


class RpcError(Exception):
    code: ClassVar[int] = -32000  # implementation-defined server error

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    @staticmethod
    def from_wire(code: int, message: str, data: Any = None) -> "RpcError":
        cls = _BY_CODE.get(code)
        if cls is None:
            error = RpcError(message, data)
            error.code = code  # keep the plugin's own code
            return error
        return cls(message, data)


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    """The caller's fault: a bad config value or a text the plugin cannot use."""

    code = -32602


class InternalError(RpcError):
    code = -32603


class Cancelled(RpcError):
    """The kernel sent `$/cancel` for the running request (code as in LSP's RequestCancelled)."""

    code = -32800

    def __init__(self, message: str = "cancelled by the kernel", data: Any = None) -> None:
        super().__init__(message, data)


InputError = InvalidParams
"""What plugin code raises for input it cannot use; the kernel answers 422."""

_BY_CODE: dict[int, type[RpcError]] = {
    cls.code: cls for cls in (ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError, Cancelled)
}
