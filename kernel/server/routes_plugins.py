"""GET /health, GET /plugins and GET /plugins/{id}: what the kernel knows and how its plugins are;
POST /plugins/{id}/reload and POST /plugins/{id}/breaker/reset: what an author does while developing.

Listing reads manifests and supervisor state only; it never starts a plugin.
/health answers 200 while the kernel can serve, even with a plugin's breaker
open (that plugin is listed in `degraded`); 503 only when the front is
stopping or the kernel is stopped.
"""
from __future__ import annotations

import importlib
from typing import Any

import msgspec
from aiohttp import web

from qualia.plugin_sdk.manifest import ID_PATTERN, Manifest

from .. import __version__
from ..breaker import BreakerSnapshot, BreakerState
from ..errors import UnknownPlugin
from ..kernel import Kernel
from ..supervisor import PluginStatus
from .openapi import API_DOC, ApiDoc
from .schemas import HealthResponse, PluginDetail, PluginHealth, PluginList, PluginSummary, json_response
from .state import KERNEL, STATE

NOT_STARTED = "not started"
_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
               "list": "array", "object": "object"}
_TROUBLED = (BreakerState.OPEN, BreakerState.HALF_OPEN)


def manifest_for(kernel: Kernel, plugin_id: str) -> Manifest:
    """The manifest of a plugin named in a URL; 404 for an unknown or malformed id."""
    if not ID_PATTERN.match(plugin_id):
        raise UnknownPlugin(f"{plugin_id!r} is not a plugin id (ids match {ID_PATTERN.pattern})",
                            plugin=plugin_id)
    return kernel.registry.get(plugin_id)


def config_schema(manifest: Manifest) -> dict[str, Any]:
    """The JSON Schema of a plugin's `config`, from its declared parameters."""
    properties: dict[str, Any] = {}
    for key, param in manifest.parameters.items():
        schema: dict[str, Any] = {"type": _JSON_TYPES[param.type]}
        if param.type == "list":
            schema["items"] = {"type": _JSON_TYPES[param.items]} if param.items else {}
        if param.type in ("integer", "number"):
            if param.min is not None:
                schema["minimum"] = param.min
            if param.max is not None:
                schema["maximum"] = param.max
        if param.choices is not None:
            if param.type == "list":
                schema["items"]["enum"] = param.choices
            else:
                schema["enum"] = param.choices
        if param.default is not None:
            schema["default"] = param.default
        if param.description:
            schema["description"] = param.description
        properties[key] = schema
    if manifest.kind == "visualizer":
        properties["format"] = {"type": "string", "enum": list(manifest.formats), "default": manifest.formats[0],
                                "description": "Figure format"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _plugin_health(status: PluginStatus | None) -> PluginHealth:
    if status is None:
        return PluginHealth(state=NOT_STARTED, processes=[], restarts=0, calls=0, breaker_failures=0,
                            total_failures=0, trips=0, waiting=0)
    breaker = status.breaker
    return PluginHealth(state=status.state, processes=status.processes, restarts=status.restarts,
                        calls=status.calls, breaker_failures=breaker.consecutive_failures,
                        total_failures=breaker.total_failures, trips=breaker.trips, waiting=status.waiting,
                        retry_after_s=breaker.retry_after_s)


async def health(request: web.Request) -> web.Response:
    app = request.app
    kernel = app[KERNEL]
    state = app[STATE]
    statuses = kernel.status()
    plugins: dict[str, PluginHealth] = {}
    degraded: list[str] = []
    for plugin_id in sorted(kernel.registry.manifests):
        status = statuses.get(plugin_id)
        plugins[plugin_id] = _plugin_health(status)
        if status is not None and status.breaker.state in _TROUBLED:
            degraded.append(plugin_id)
    if state.stopping:
        overall, code = "stopping", 503
    elif not kernel.running:
        overall, code = "stopped", 503
    else:
        overall, code = ("degraded" if degraded else "ok"), 200
    body = HealthResponse(status=overall, version=__version__, uptime_s=state.uptime_s(), degraded=degraded,
                          plugins=plugins, manifest_problems=len(kernel.registry.problems))
    return json_response(body, code)


def _state(kernel: Kernel, plugin_id: str) -> str:
    status = kernel.plugin_status(plugin_id)
    return status.state if status is not None else NOT_STARTED


async def list_plugins(request: web.Request) -> web.Response:
    kernel = request.app[KERNEL]
    plugins = [PluginSummary(id=m.id, name=m.name, version=m.version, kind=m.kind, description=m.description,
                             provides=m.provides, requires=m.requires, formats=m.formats,
                             state=_state(kernel, m.id))
               for m in kernel.registry]
    return json_response(PluginList(plugins=plugins, problems=kernel.registry.problems))


async def show_plugin(request: web.Request) -> web.Response:
    kernel = request.app[KERNEL]
    m = manifest_for(kernel, request.match_info["id"])
    status = kernel.plugin_status(m.id)
    detail = PluginDetail(id=m.id, name=m.name, version=m.version, kind=m.kind, description=m.description,
                          provides=m.provides, requires=m.requires, formats=m.formats, timeout_s=m.timeout_s,
                          concurrency=m.concurrency, parameters=m.parameters, config_schema=config_schema(m),
                          state=status.state if status is not None else NOT_STARTED, status=status)
    return json_response(detail)


class ReloadResponse(msgspec.Struct, kw_only=True):
    plugin: str
    version: str
    reloaded: bool  # its manifest or code changed: the next call runs the new version
    changed: list[str]  # every plugin restarted by this reload (manifests are re-read for all)
    problems: int  # manifests that could not be loaded (GET /plugins lists them)


class BreakerResetResponse(msgspec.Struct, kw_only=True):
    plugin: str
    state: str
    breaker: BreakerSnapshot | None  # null when the plugin has not been used yet


async def reload_plugin(request: web.Request) -> web.Response:
    """Re-read every manifest (and newly installed entry points); restart the plugins that changed."""
    kernel = request.app[KERNEL]
    plugin_id = request.match_info["id"]
    if not ID_PATTERN.match(plugin_id):
        manifest_for(kernel, plugin_id)  # 404 naming the pattern
    before = (kernel.registry.manifests.get(plugin_id), kernel.registry.code_hash(plugin_id))
    importlib.invalidate_caches()  # a distribution pip-installed since the start is found
    changed = await kernel.reload_plugins()
    manifest = manifest_for(kernel, plugin_id)
    after = (manifest, kernel.registry.code_hash(plugin_id))
    return json_response(ReloadResponse(plugin=plugin_id, version=manifest.version, reloaded=before != after,
                                        changed=changed, problems=len(kernel.registry.problems)))


async def reset_breaker(request: web.Request) -> web.Response:
    kernel = request.app[KERNEL]
    manifest = manifest_for(kernel, request.match_info["id"])
    status = kernel.reset_breaker(manifest.id)
    return json_response(BreakerResetResponse(plugin=manifest.id, state=status.state if status else NOT_STARTED,
                                              breaker=status.breaker if status else None))


def setup_plugin_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/plugins", list_plugins)
    app.router.add_get("/plugins/{id}", show_plugin)
    app.router.add_post("/plugins/{id}/reload", reload_plugin)
    app.router.add_post("/plugins/{id}/breaker/reset", reset_breaker)
    describe(app[API_DOC])


def describe(doc: ApiDoc) -> None:
    doc.add("get", "/health", "health", tag="service", summary="Service health",
            description="Status, version, uptime and each plugin's state, processes, restarts and breaker. "
                        "200 while the kernel serves (plugins with an open breaker are listed in `degraded`); "
                        "503 when the service is stopping or stopped.",
            responses={200: HealthResponse, 503: HealthResponse}, errors=())
    doc.add("get", "/plugins", "listPlugins", tag="plugins", summary="List plugins",
            description="Every discovered plugin with its state, and the manifests that could not be loaded.",
            responses={200: PluginList}, errors=())
    doc.add("get", "/plugins/{id}", "getPlugin", tag="plugins", summary="One plugin",
            description="Manifest, parameters, the JSON Schema of its config, and its state.",
            responses={200: PluginDetail}, errors=(404,))
    doc.add("post", "/plugins/{id}/reload", "reloadPlugin", tag="plugins", summary="Reload plugins",
            description="Re-read every manifest and code hash (and newly installed entry points); a plugin whose "
                        "manifest or code changed restarts with both, after its calls in flight finish on the old "
                        "version. `reloaded` says whether this plugin changed. 404 if it is not found afterwards.",
            responses={200: ReloadResponse}, errors=(404,))
    doc.add("post", "/plugins/{id}/breaker/reset", "resetBreaker", tag="plugins", summary="Close the breaker",
            description="Close the plugin's circuit breaker by hand (e.g. after a fix); the next call starts a "
                        "fresh process.",
            responses={200: BreakerResetResponse}, errors=(404,))
