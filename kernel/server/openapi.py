"""The OpenAPI document, built in code from the msgspec types, and the /docs page.

Each routes module describes its operations on the app's `ApiDoc` next to
the handlers (`doc.add(...)`); the schemas come from
`msgspec.json.schema_components` over the request and response Structs, so
the document cannot drift from what the handlers decode and encode. The
JSON is built once, on the first GET /openapi.json after the app is set up.
GET /docs is a small self-contained page (HTML + JS served from this
package, no external URL) that reads /openapi.json and lists the
operations and schemas.

Security is declared by whoever enforces it: an add-on that requires API
keys calls `ApiDoc.secure(...)` with its schemes, the default requirement
and the routes that differ (open ones get `security: []`); every operation
that then needs a key also lists 401.
"""
from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from qualia.plugin_sdk.manifest import ID_PATTERN

from .. import __version__
from .schemas import ErrorBody

ASSETS = Path(__file__).parent / "assets"
REF_TEMPLATE = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{([^}:]+)\}")
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "id": {"description": "Plugin id", "schema": {"type": "string", "pattern": ID_PATTERN.pattern,
                                                   "examples": ["word_frequency"]}},
}
DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"


class Operation(msgspec.Struct, kw_only=True):
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str = ""
    request: Any = None  # a Struct type decoded from JSON
    form: dict[str, Any] | None = None  # a multipart/form-data schema
    responses: dict[int, Any] = {}  # status -> Struct type, [one of several], or (type, {media type: extra content})
    errors: tuple[int, ...] = ()


class ApiDoc:
    """The operations of an app; `build()` turns them into an OpenAPI 3.1 document."""

    def __init__(self, title: str = "Qualia Core", version: str = __version__, description: str = "") -> None:
        self.title = title
        self.version = version
        self.description = description
        self.operations: list[Operation] = []
        self.security_schemes: dict[str, dict[str, Any]] = {}
        self.security: list[dict[str, list[str]]] = []  # the default requirement of every operation
        self.route_security: dict[str, list[dict[str, list[str]]]] = {}  # path -> its own requirement
        self._encoded: bytes | None = None

    def secure(self, schemes: dict[str, dict[str, Any]], default: list[dict[str, list[str]]],
               routes: dict[str, list[dict[str, list[str]]]] | None = None) -> None:
        """Declare security schemes, the requirement of every operation, and the paths that differ."""
        self.security_schemes.update(schemes)
        self.security = default
        self.route_security.update(routes or {})
        self._encoded = None

    def add(self, method: str, path: str, operation_id: str, *, tag: str, summary: str, description: str = "",
            request: Any = None, form: dict[str, Any] | None = None, responses: dict[int, Any] | None = None,
            errors: tuple[int, ...] = ()) -> None:
        self.operations.append(Operation(method=method.lower(), path=path, operation_id=operation_id, tag=tag,
                                         summary=summary, description=description, request=request, form=form,
                                         responses=responses or {}, errors=errors))
        self._encoded = None

    def _types(self) -> list[Any]:
        found: dict[Any, None] = {}
        for op in self.operations:
            if op.request is not None:
                found[op.request] = None
            for value in op.responses.values():
                kind = value[0] if isinstance(value, tuple) else value
                if isinstance(kind, list):  # one of several shapes
                    found.update(dict.fromkeys(kind))
                elif not isinstance(kind, dict):
                    found[kind] = None
        found[ErrorBody] = None  # the one error shape, in every operation
        return list(found)

    def build(self) -> dict[str, Any]:
        types = self._types()
        refs, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
        ref_of = dict(zip(types, refs))
        error_ref = ref_of[ErrorBody]
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method] = self._operation(op, ref_of, error_ref)
        security: dict[str, Any] = {}
        if self.security_schemes:
            security = {"security": self.security}
        return {
            "openapi": "3.1.0",
            **security,
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {
                "schemas": components,
                "headers": {
                    "X-Request-ID": {"description": "The request id: the client's when sane, else a new one",
                                     "schema": {"type": "string"}},
                    "Retry-After": {"description": "Seconds before a retry may succeed",
                                    "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                },
                "parameters": {
                    "RequestId": {"name": "X-Request-ID", "in": "header", "required": False,
                                  "description": "Echoed back; letters, digits and ._:@/+=- up to 128 characters",
                                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:@/+=-]{1,128}$"}},
                },
                **({"securitySchemes": self.security_schemes} if self.security_schemes else {}),
            },
        }

    def _operation(self, op: Operation, ref_of: dict[Any, dict[str, Any]], error_ref: dict[str, Any]) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [{"$ref": "#/components/parameters/RequestId"}]
        for name in _PATH_PARAM.findall(op.path):
            parameters.append({"name": name, "in": "path", "required": True, **PATH_PARAMETERS.get(name, {
                "schema": {"type": "string"}})})
        out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                               "parameters": parameters}
        if op.description:
            out["description"] = op.description
        if op.request is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref_of[op.request]}}}
        elif op.form is not None:
            out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.form}}}
        request_id_header = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
        responses: dict[str, Any] = {}
        for status, value in op.responses.items():
            if isinstance(value, dict):  # the content, given as it is
                content = value
            else:
                kind, extra = value if isinstance(value, tuple) else (value, {})
                schema = {"oneOf": [ref_of[one] for one in kind]} if isinstance(kind, list) else ref_of[kind]
                content = {"application/json": {"schema": schema}, **extra}
            responses[str(status)] = {"description": HTTPStatus(status).phrase, "headers": request_id_header,
                                      "content": content}
        errors = op.errors
        if self.security_schemes:
            own = self.route_security.get(op.path)
            if own is not None:
                out["security"] = own
            if own is None or own:  # a key is needed: say what its absence answers
                errors = (*errors, 401)
        for status in errors:
            headers = dict(request_id_header)
            if status == 503:
                headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
            elif status == 401:
                headers["WWW-Authenticate"] = {"description": "The scheme to use (Bearer)",
                                               "schema": {"type": "string"}}
            responses.setdefault(str(status), {"description": HTTPStatus(status).phrase, "headers": headers,
                                               "content": {"application/json": {"schema": error_ref}}})
        responses["default"] = {"description": "Any other error, in the one error shape", "headers": request_id_header,
                                "content": {"application/json": {"schema": error_ref}}}
        out["responses"] = responses
        return out

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = msgspec.json.encode(self.build())
        return self._encoded


API_DOC = web.AppKey("qualia_api_doc", ApiDoc)


async def openapi_json(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[API_DOC].encoded())
    response.content_type = "application/json"
    return response


def _asset_handler(name: str, content_type: str) -> Any:
    data = (ASSETS / name).read_bytes()  # read once, when the app is set up

    async def serve_asset(request: web.Request) -> web.Response:
        return web.Response(body=data, headers={"Content-Type": content_type, "Content-Security-Policy": DOCS_CSP,
                                                "Cache-Control": "no-cache"})

    return serve_asset


def setup_openapi(app: web.Application) -> ApiDoc:
    doc = app[API_DOC]
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", _asset_handler("docs.html", "text/html; charset=utf-8"))
    app.router.add_get("/docs/docs.js", _asset_handler("docs.js", "text/javascript; charset=utf-8"))
    app.router.add_get("/docs/docs.css", _asset_handler("docs.css", "text/css; charset=utf-8"))
    doc.add("get", "/openapi.json", "openapi", tag="service", summary="This OpenAPI document",
            responses={200: {"application/json": {"schema": {"type": "object"}}}})
    doc.add("get", "/docs", "docs", tag="service", summary="API documentation page",
            description="A self-contained HTML page (no external assets) rendering /openapi.json.",
            responses={200: {"text/html; charset=utf-8": {"schema": {"type": "string"}}}})
    return doc
