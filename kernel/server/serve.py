"""Running the front: `start_server` (also used by the tests) and `serve_main` (`qualia serve`).

On SIGTERM or SIGINT the server stops accepting connections, /health turns
503, in-flight requests get up to `shutdown_timeout_s` to finish (then they
are cancelled, which cancels their plugin calls), and the kernel shuts every
plugin process down before the process exits with 0.
Handlers are cancelled when their client disconnects (`handler_cancellation`),
so abandoned work reaches the plugin as `$/cancel`.
"""
from __future__ import annotations

import asyncio
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from ..errors import InvalidSetting
from ..settings import Settings
from .app import create_app
from .logs import AccessLogger, access_log, configure_logging, server_log
from .protocol import GuardedSite
from .state import KERNEL, SETTINGS, ServerSettings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


async def start_server(app: web.Application, host: str = "127.0.0.1", port: int = 0, *,
                       ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    """Set up the app (startup hooks: the kernel starts) and listen; returns the runner and base URL.

    Connections are `protocol.GuardedRequestHandler`s: header timeout, a share per
    client address, malformed requests answered in JSON and logged without their bytes.
    """
    settings = app[SETTINGS]
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=settings.shutdown_timeout_s)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, ssl_context=ssl_context, header_timeout_s=settings.header_timeout_s,
                           max_connections_per_client=settings.max_connections_per_client,
                           handler_options={"access_log_class": AccessLogger,
                                            "access_log": access_log if settings.access_log else None,
                                            "keepalive_timeout": settings.keepalive_timeout_s})
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    scheme = "https" if ssl_context is not None else "http"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"{scheme}://{shown}:{bound_port}"


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both a certificate (--cert) and its private key (--key)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None
    return context


async def serve(kernel_settings: Settings, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                settings: ServerSettings | None = None, reload: bool = False) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; returns the exit code.

    With `reload`, plugin folders are watched and changed plugins reloaded (kernel/reloader.py).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            server_log.warning("%s again: already shutting down", signal.Signals(signum).name)
            return
        server_log.info("%s: shutting down (in-flight requests get up to %g s)", signal.Signals(signum).name,
                        app[SETTINGS].shutdown_timeout_s)
        stop.set()

    app = create_app(kernel_settings=kernel_settings, settings=settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        try:
            runner, url = await start_server(app, host, port, ssl_context=ssl_context)
        except OSError as exc:
            server_log.error("cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
            return EXIT_FAILURE
        server_log.info("listening on %s", url)
        watcher = _start_watcher(app, stop) if reload else None
        await stop.wait()
        if watcher is not None:
            await watcher
        await runner.cleanup()  # stop listening, finish in-flight requests, stop the kernel
        server_log.info("stopped")
        return EXIT_OK
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _start_watcher(app: web.Application, stop: asyncio.Event) -> asyncio.Task[None]:
    from ..reloader import PluginWatcher  # watchfiles is imported only for --reload

    return asyncio.get_running_loop().create_task(PluginWatcher(app[KERNEL]).run(stop), name="plugin-watcher")


def serve_main(kernel_settings: Settings, host: str, port: int, *, cert: Path | None = None,
               key: Path | None = None, reload: bool = False) -> int:
    """Entry point of `qualia serve`: run the REST front until SIGTERM/SIGINT; the exit code."""
    configure_logging()
    try:
        ssl_context = tls_context(cert, key)
        settings = ServerSettings.from_env()
    except ValueError as exc:
        print(f"qualia serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(serve(kernel_settings, host, port, ssl_context=ssl_context, settings=settings,
                                 reload=reload))
    except InvalidSetting as exc:  # e.g. QUALIA_RATE_LIMIT=fast, found while the app is set up
        print(f"qualia serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # a failure while starting (the kernel, the cache folder, ...)
        server_log.exception("the server failed")
        return EXIT_FAILURE
