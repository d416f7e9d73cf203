"""Sentry error reports for the REST front (optional: `QUALIA_SENTRY_DSN` and sentry-sdk).

`SentryReporter` is an `ErrorReporter` (kernel/server/state.py): the error
middleware tells it about every 5xx answer, and it sends

- unexpected exceptions (the 500 path), with their traceback;
- plugin faults (502/504: a crash, a timeout, a protocol error, a plugin's
  internal error), tagged `plugin_id`, `plugin_version` and `request_id`,
  with the plugin's stderr tail (and its traceback, when it sent one) in the
  `plugin` context and in `extra`;

and nothing else: caller errors (4xx) never reach it, and 503s (an open
breaker, a busy plugin, shutting down) are states, not faults. The kernel
never imports sentry_sdk: without the DSN nothing is set up, and without the
package the feature is off with one log line.

sentry-sdk keeps one client per process (global state). The app initialises
it when it starts (`default_integrations=False`: no logging hook, no
excepthook, no monkey-patching, so the process is left as it was) and, when
it stops, flushes what is pending (up to `FLUSH_TIMEOUT_S`) and closes the
client, so the next app (or test) starts clean. Two apps with a DSN in one
process share that one client: the last started wins. Events carry no
request headers, bodies or local variables (`send_default_pii=False`,
`include_local_variables=False`): API keys and texts stay out of Sentry.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, AsyncIterator, Mapping

from aiohttp import web

from qualia.kernel import InvalidSetting, PluginFault, Unavailable, __version__
from qualia.kernel.server import KERNEL, REQUEST_ID_KEY, add_error_reporter, current_request_id

from .gates import route_of

try:
    import sentry_sdk
    from sentry_sdk.utils import BadDsn, Dsn
except ImportError as exc:  # pragma: no cover - sentry-sdk is a dependency, but an optional one here
    sentry_sdk = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["DSN_VAR", "ENVIRONMENT_VAR", "FLUSH_TIMEOUT_S", "SentryReporter", "setup_sentry"]

log = logging.getLogger("qualia.ops")

DSN_VAR = "QUALIA_SENTRY_DSN"
ENVIRONMENT_VAR = "QUALIA_SENTRY_ENVIRONMENT"
FLUSH_TIMEOUT_S = 5.0
STDERR_TAIL_LINES = 40


class SentryReporter:
    """Sends the 500 path and plugin faults to Sentry, with the plugin and request as tags."""

    def __init__(self, dsn: str, *, environment: str | None = None, release: str | None = None) -> None:
        self.dsn = dsn
        self.environment = environment
        self.release = release or f"qualia-core@{__version__}"
        self.sent = 0

    # ---- ErrorReporter -----------------------------------------------------------

    def report(self, request: web.Request, exc: BaseException, status: int) -> None:
        if status < 500 or isinstance(exc, Unavailable) or sentry_sdk is None:
            return
        request_id = request.get(REQUEST_ID_KEY) or current_request_id()
        with sentry_sdk.new_scope() as scope:
            scope.set_level("error")
            scope.set_tag("request_id", request_id)
            scope.set_tag("http.status_code", str(status))
            scope.set_tag("http.method", request.method)
            scope.set_tag("route", route_of(request) or "-")
            scope.set_extra("path", request.path)  # the query may hold a key: never sent
            if isinstance(exc, PluginFault):
                self._plugin_context(request, exc, scope)
            sentry_sdk.capture_exception(exc)
        self.sent += 1

    @staticmethod
    def _plugin_context(request: web.Request, exc: PluginFault, scope: Any) -> None:
        details = exc.details
        plugin_id = str(details.get("plugin") or "unknown")
        manifest = None
        kernel = request.app.get(KERNEL)
        if kernel is not None:
            manifest = kernel.registry.manifests.get(plugin_id)
        version = manifest.version if manifest is not None else "unknown"
        tail = details.get("stderr_tail")
        tail_lines = [str(line) for line in tail[-STDERR_TAIL_LINES:]] if isinstance(tail, list) else []
        scope.set_tag("plugin_id", plugin_id)
        scope.set_tag("plugin_version", version)
        scope.set_tag("error_code", exc.code)
        context: dict[str, Any] = {"id": plugin_id, "version": version, "code": exc.code, "message": exc.message,
                                   "stderr_tail": "\n".join(tail_lines)}
        for key in ("exit_code", "rpc_code", "timeout_s"):
            if details.get(key) is not None:
                context[key] = details[key]
        if isinstance(details.get("traceback"), str):
            context["traceback"] = details["traceback"]
        scope.set_context("plugin", context)
        scope.set_extra("stderr_tail", "\n".join(tail_lines))
        # One issue per plugin and kind of fault, not one per message (messages carry stderr lines).
        scope.fingerprint = ["qualia-plugin-fault", plugin_id, exc.code]

    # ---- lifecycle (an aiohttp cleanup context) ------------------------------------

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        assert sentry_sdk is not None
        if sentry_sdk.get_client().is_active():
            log.warning("Sentry: a client was already set up in this process; this app's replaces it "
                        "(one process has one Sentry client)")
        sentry_sdk.init(dsn=self.dsn, environment=self.environment, release=self.release,
                        default_integrations=False, auto_enabling_integrations=False, integrations=[],
                        include_local_variables=False, max_breadcrumbs=0,
                        traces_sample_rate=None, shutdown_timeout=FLUSH_TIMEOUT_S)
        client = sentry_sdk.get_client()
        log.info("Sentry: on (server errors and plugin faults go to %s)", Dsn(self.dsn).host)
        try:
            yield
        finally:
            # Flush what is pending, stop the sender thread, and leave no client behind.
            await asyncio.to_thread(client.close, FLUSH_TIMEOUT_S)
            if sentry_sdk.get_client() is client or not sentry_sdk.get_client().is_active():
                sentry_sdk.get_global_scope().set_client(None)


def setup_sentry(app: web.Application, env: Mapping[str, str] | None = None, *,
                 dsn: str | None = None) -> SentryReporter | None:
    """Report server errors and plugin faults of `app` to Sentry when a DSN is configured."""
    env = os.environ if env is None else env
    dsn = dsn if dsn is not None else env.get(DSN_VAR, "").strip()
    if not dsn:
        log.info("Sentry: off (%s is not set)", DSN_VAR)
        return None
    if sentry_sdk is None:
        log.warning("Sentry: off: %s is set but sentry_sdk cannot be imported (%s)", DSN_VAR, _IMPORT_ERROR)
        return None
    try:
        Dsn(dsn)
    except BadDsn as exc:  # the DSN holds the project's key: not echoed
        raise InvalidSetting(f"{DSN_VAR} is not a valid Sentry DSN: {exc}", variable=DSN_VAR) from None
    reporter = SentryReporter(dsn, environment=env.get(ENVIRONMENT_VAR) or None)
    add_error_reporter(app, reporter)
    app.cleanup_ctx.append(reporter.lifecycle)
    return reporter
