"""The REST front of the kernel (aiohttp): health, plugins, analyses, figures, pipelines, OpenAPI.

`create_app` builds the application; `serve_main` runs it until SIGTERM or
SIGINT (`qualia serve`); `start_server` listens on a host and port (tests).
"""
from .app import create_app
from .openapi import API_DOC, ApiDoc
from .serve import serve, serve_main, start_server
from .state import KERNEL, SETTINGS, STATE, ServerSettings

__all__ = ["API_DOC", "KERNEL", "SETTINGS", "STATE", "ApiDoc", "ServerSettings", "create_app", "serve",
           "serve_main", "start_server"]
