"""The REST front of the kernel (aiohttp): health, plugins, analyses, figures, pipelines, OpenAPI.

`create_app` builds the application; `serve_main` runs it until SIGTERM or
SIGINT (`qualia serve`); `start_server` listens on a host and port (tests).
"""
from .app import create_app
from .openapi import API_DOC, ApiDoc
from .serve import serve, serve_main, start_server
from .state import ERROR_REPORTERS, KERNEL, SETTINGS, STATE, ErrorReporter, ServerSettings, add_error_reporter

__all__ = ["API_DOC", "ERROR_REPORTERS", "KERNEL", "SETTINGS", "STATE", "ApiDoc", "ErrorReporter", "ServerSettings",
           "add_error_reporter", "create_app", "serve", "serve_main", "start_server"]
