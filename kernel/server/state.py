"""What the front keeps between requests: its settings, its state and the app keys.

Everything a handler needs is reached through the `web.AppKey`s below, so no
module keeps global state and several apps (one per test) can live in one
process.
"""
from __future__ import annotations

import os
import time
from typing import Mapping, Protocol

import msgspec
from aiohttp import web

from ..kernel import Kernel
from ..settings import read_env_numbers

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 64


class ServerSettings(msgspec.Struct, kw_only=True):
    """Settings of the HTTP front (the kernel has its own `Settings`)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # any request body: JSON or multipart
    shutdown_timeout_s: float = 30.0  # in-flight requests get this long on SIGTERM
    access_log: bool = True
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH  # nesting of arrays and objects in a JSON body
    header_timeout_s: float = 15.0  # a request's line and headers must arrive within this
    body_timeout_s: float = 120.0  # a request's whole body must arrive within this (408 otherwise)
    keepalive_timeout_s: float = 75.0  # an idle keep-alive connection is closed after this
    max_connections_per_client: int = 100  # open connections per client address (0: no limit)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "ServerSettings":
        env = os.environ if env is None else env
        values = read_env_numbers(env, {
            "max_upload_bytes": ("QUALIA_MAX_UPLOAD_BYTES", int),
            "shutdown_timeout_s": ("QUALIA_SHUTDOWN_TIMEOUT_S", float),
            "max_json_depth": ("QUALIA_MAX_JSON_DEPTH", int),
            "header_timeout_s": ("QUALIA_HEADER_TIMEOUT_S", float),
            "body_timeout_s": ("QUALIA_BODY_TIMEOUT_S", float),
            "keepalive_timeout_s": ("QUALIA_KEEPALIVE_TIMEOUT_S", float),
            "max_connections_per_client": ("QUALIA_MAX_CONNECTIONS_PER_CLIENT", int),
        })
        if env.get("QUALIA_ACCESS_LOG"):
            values["access_log"] = env["QUALIA_ACCESS_LOG"].strip().lower() not in ("0", "false", "no", "off")
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.max_upload_bytes < 1:
            raise ValueError("QUALIA_MAX_UPLOAD_BYTES must be >= 1")
        if not settings.shutdown_timeout_s >= 0:
            raise ValueError("QUALIA_SHUTDOWN_TIMEOUT_S must be >= 0")
        if settings.max_json_depth < 1:
            raise ValueError("QUALIA_MAX_JSON_DEPTH must be >= 1")
        timeouts = (("header_timeout_s", "QUALIA_HEADER_TIMEOUT_S"), ("body_timeout_s", "QUALIA_BODY_TIMEOUT_S"),
                    ("keepalive_timeout_s", "QUALIA_KEEPALIVE_TIMEOUT_S"))
        for field, name in timeouts:
            if not getattr(settings, field) > 0:  # also rejects nan
                raise ValueError(f"{name} must be > 0")
        if settings.max_connections_per_client < 0:
            raise ValueError("QUALIA_MAX_CONNECTIONS_PER_CLIENT must be >= 0 (0: no limit)")
        return settings


class ServerState:
    """Mutable facts about this front: when it started and whether it is stopping."""

    __slots__ = ("started_at", "stopping")

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.stopping = False

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started_at, 3)


class ErrorReporter(Protocol):
    """Something told about server-side failures (e.g. Sentry, in `ops/sentry.py`).

    The error middleware calls `report` for every 5xx answer it makes: the 500
    path (an unexpected exception), plugin faults (502/504), timeouts and 503s;
    the reporter decides what is worth sending. It runs on the event loop while
    the request is answered: it must be quick, never block and never raise
    (anything it raises is logged and ignored). Register one with
    `add_error_reporter(app, reporter)`.
    """

    def report(self, request: web.Request, exc: BaseException, status: int) -> None: ...


def add_error_reporter(app: web.Application, reporter: ErrorReporter) -> None:
    reporters = app.get(ERROR_REPORTERS)
    if reporters is None:
        app[ERROR_REPORTERS] = reporters = []
    reporters.append(reporter)


KERNEL = web.AppKey("qualia_kernel", Kernel)
SETTINGS = web.AppKey("qualia_server_settings", ServerSettings)
STATE = web.AppKey("qualia_server_state", ServerState)
ERROR_REPORTERS = web.AppKey("qualia_error_reporters", list)  # list[ErrorReporter]
