"""The REST front of the kernel (aiohttp): health, plugins, analyses, figures, pipelines, OpenAPI.

`create_app` builds the application; `serve_main` runs it until SIGTERM or
SIGINT (`qualia serve`); `start_server` listens on a host and port (tests).
Server add-ons (registered under the entry-point group `qualia.server_addons`)
use only the names below: the app keys, the API document, the one JSON error
shape and the request id.
"""
from .app import create_app
from .errors import error_response
from .logs import REQUEST_ID_KEY, current_request_id
from .openapi import API_DOC, ApiDoc
from .serve import serve, serve_main, start_server
from .state import ERROR_REPORTERS, KERNEL, SETTINGS, STATE, ErrorReporter, ServerSettings, add_error_reporter

# What server add-ons (the `ops` package) may import: nothing else of the front is promised.
__all__ = ["API_DOC", "ERROR_REPORTERS", "KERNEL", "REQUEST_ID_KEY", "SETTINGS", "STATE", "ApiDoc", "ErrorReporter",
           "ServerSettings", "add_error_reporter", "create_app", "current_request_id", "error_response", "serve",
           "serve_main", "start_server"]
