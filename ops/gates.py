"""Gates: cheap checks that may refuse a request before its handler runs (API keys, rate limits).

A gate is called with the request and the route pattern it matched
(`/plugins/{id}`, None when no route matched) and returns None to let the
request through, or the answer to send instead (401, 429). All the gates of
an app run in one middleware, so the hot path pays for one middleware layer
and one route lookup whatever the number of gates. It sits inside the
request id and error middlewares: refusals carry the request id and the one
JSON error shape.
"""
from __future__ import annotations

from typing import Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["Gate", "gate_middleware", "route_of"]

Gate = Callable[[web.Request, "str | None"], "web.StreamResponse | None"]


def route_of(request: web.Request) -> str | None:
    """The route pattern the request matched (`/plugins/{id}`), None for no route (404/405)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def gate_middleware(gates: Iterable[Gate]) -> Middleware:
    """One middleware running `gates` in order; the first refusal is the answer."""
    gates = tuple(gates)

    @web.middleware
    async def operations_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        for gate in gates:
            refused = gate(request, route)
            if refused is not None:
                return refused
        return await handler(request)

    return operations_gate
