"""`create_app`: the aiohttp application of the REST front, and its lifecycle.

The app owns the kernel's lifecycle by default (started with the app,
stopped after the in-flight requests are done), so plugin processes never
outlive the server. Middlewares, outermost first: the request statistics
(for /monitor and /metrics), the request id, then the one error translation
point.
"""
from __future__ import annotations

import os
from typing import AsyncIterator

from aiohttp import web

from .. import entry_points
from ..errors import InvalidSetting
from ..kernel import Kernel
from ..settings import Settings
from .cluster import setup_cluster
from .errors import error_middleware
from .jobs_routes import setup_jobs
from .logs import echo_request_id, request_id_middleware, server_log
from .metrics import setup_metrics
from .monitor import setup_monitor
from .openapi import API_DOC, ApiDoc, setup_openapi
from .routes_analysis import setup_analysis_routes
from .routes_figures import setup_figure_routes
from .routes_plugins import setup_plugin_routes
from .state import KERNEL, SETTINGS, STATE, ServerSettings, ServerState
from .stats import REQUEST_STATS, RequestStats

API_DESCRIPTION = (
    "Qualia Core turns qualitative text into numbers and figures through plugins that run as child "
    "processes. Every error is `{\"error\": {\"code\", \"message\", \"details\"}}`; every answer carries "
    "an `X-Request-ID`.")


def create_app(kernel: Kernel | None = None, *, settings: ServerSettings | None = None,
               kernel_settings: Settings | None = None, manage_kernel: bool = True) -> web.Application:
    """The REST application.

    `kernel` defaults to a new Kernel over `kernel_settings` (else the environment).
    With `manage_kernel` the app starts it on startup (unless already running) and
    stops it on cleanup, after the in-flight requests finished. With the kernel's
    `cluster` setting, jobs run on that Dask cluster (`cluster.py`).
    """
    settings = settings or ServerSettings.from_env()
    kernel = kernel or Kernel(kernel_settings)
    stats = RequestStats()
    app = web.Application(middlewares=[stats.middleware(), request_id_middleware, error_middleware],
                          client_max_size=settings.max_upload_bytes)
    app[KERNEL] = kernel
    app[SETTINGS] = settings
    app[STATE] = ServerState()
    app[API_DOC] = ApiDoc(description=API_DESCRIPTION)
    app[REQUEST_STATS] = stats

    setup_plugin_routes(app)
    setup_analysis_routes(app)
    setup_figure_routes(app)
    setup_openapi(app)
    # ---- extensions -------------------------------------------------------------
    # Durable jobs and webhooks register here with one call each, e.g.
    #     from .jobs_routes import setup_jobs
    #     setup_jobs(app)
    # They get the request id and the JSON error shape from the middlewares, the
    # kernel as app[KERNEL], and describe their operations on app[API_DOC]
    # (doc.add(...)) so /openapi.json lists them.
    setup_jobs(app)
    setup_monitor(app)
    setup_metrics(app)
    _setup_addons(app)

    app.on_response_prepare.append(echo_request_id)
    app.on_shutdown.append(_mark_stopping)
    if manage_kernel:
        app.cleanup_ctx.append(_kernel_lifecycle)
    cluster = kernel.settings.cluster
    if cluster:  # jobs on a Dask cluster, opened after the kernel starts and closed before it stops
        origin = kernel.settings.origin("cluster")
        setup_cluster(app, cluster, origin=str(origin) if origin.source != "default" else "")
    return app


ADDON_GROUP = "qualia.server_addons"


def _setup_addons(app: web.Application) -> None:
    """Add-ons installed from outside (the `ops` package: API keys, rate limits, Sentry), each a
    `setup(app)` registered under the entry-point group `qualia.server_addons`.

    Without them the server runs open, except that configured API keys are never dropped
    silently: when an add-on cannot be loaded and keys are set, the server refuses to start.
    """
    problems: list[entry_points.EntryPointProblem] = []
    addons = entry_points.load(ADDON_GROUP, problems)
    keys = [name for name in ("QUALIA_API_KEYS", "QUALIA_API_KEYS_FILE") if os.environ.get(name)]
    if keys and (problems or not addons):
        why = "; ".join(f"{problem.name}: {problem.reason}" for problem in problems) or "no add-on is installed"
        raise InvalidSetting(f"{keys[0]} is set but the server add-ons cannot be loaded ({why}): "
                             f"refusing to serve without API keys", variable=keys[0])
    if not addons:
        server_log.info("no server add-ons installed (API keys, rate limits, Sentry are off)")
    for name, setup in addons:
        setup(app)
        server_log.debug("server add-on %s installed", name)


async def _mark_stopping(app: web.Application) -> None:
    """Runs as soon as shutdown begins (before in-flight requests finish): /health answers 503."""
    app[STATE].stopping = True


async def _kernel_lifecycle(app: web.Application) -> AsyncIterator[None]:
    kernel = app[KERNEL]
    if not kernel.running:
        await kernel.start()
    server_log.info("kernel started: %d plugins, %d manifest problems", len(kernel.registry),
                    len(kernel.registry.problems))
    try:
        yield
    finally:
        await kernel.stop()
        server_log.info("kernel stopped: plugin processes shut down")
