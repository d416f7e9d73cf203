"""API keys for the REST front: `Authorization: Bearer <key>` on every route but /health.

Off unless keys are configured: `QUALIA_API_KEYS` (comma-separated) and/or
`QUALIA_API_KEYS_FILE` (one key per line; blank lines and `#` comments are
skipped). A setting that is present but holds no usable key is a startup
error, never an open server.

- GET /health stays open (load balancers, Docker's HEALTHCHECK).
- POST /webhook/{source} is exempt: GitHub, Slack and custom senders cannot
  send our keys; each request is authenticated by its signature instead.
- GET /monitor and GET /monitor/stream (the dashboard and its SSE stream) also
  take the key as `?key=<key>`, since a browser's EventSource cannot set
  headers (the page passes its own `?key=` on to the stream); the access log
  masks the value. The dashboard's static script and style sheet are open.
- A missing or wrong key is 401 in the JSON error shape with
  `WWW-Authenticate: Bearer`; nothing else runs.

Keys are compared in constant time: the presented key is compared with
`hmac.compare_digest` against every configured key, all of them every time
(no early exit), so which key matched, or how much of one, does not show in
the timing (compare_digest's time depends on the presented key's length
only). Keys are never logged nor put in an error message. The matched
key's position (`key:0`, `key:1`, ...) is kept on the request (`CLIENT_KEY`)
so the rate limiter counts per key without holding the key itself.
"""
from __future__ import annotations

import hmac
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from aiohttp import hdrs, web

from qualia.kernel import InvalidSetting, Unauthorized
from qualia.kernel.server import API_DOC, ApiDoc, error_response

from .gates import gate_middleware

__all__ = ["API_KEYS_FILE_VAR", "API_KEYS_VAR", "ApiKeyGate", "ApiKeys", "CLIENT_KEY", "auth_gate", "describe_auth",
           "load_keys", "setup_auth"]

log = logging.getLogger("qualia.ops")

API_KEYS_VAR = "QUALIA_API_KEYS"
API_KEYS_FILE_VAR = "QUALIA_API_KEYS_FILE"
HEALTH_ROUTE = "/health"
WEBHOOK_ROUTE = "/webhook/{source}"
# The dashboard's static script and style sheet hold no data, and a browser loads them without the key.
DASHBOARD_ASSETS = frozenset({"/monitor/monitor.js", "/monitor/monitor.css"})
OPEN_ROUTES = frozenset({HEALTH_ROUTE, WEBHOOK_ROUTE}) | DASHBOARD_ASSETS
QUERY_KEY_ROUTES = frozenset({"/monitor", "/monitor/stream"})  # EventSource cannot send headers
QUERY_KEY = "key"
# RFC 6750 b64token: what a bearer token may hold (so it survives a header, a line and a URL).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

CLIENT_KEY = web.RequestKey("qualia_client", str)  # who is asking, for the rate limiter: `key:<n>`
_CHALLENGE = 'Bearer realm="qualia"'
_INVALID_CHALLENGE = 'Bearer realm="qualia", error="invalid_token"'


class ApiKeys:
    """The configured keys (as bytes); `match` says which one (by position) a token is."""

    __slots__ = ("_keys", "labels")

    def __init__(self, keys: Iterable[str]) -> None:
        encoded = [key.encode("utf-8") for key in keys]
        if not encoded:
            raise ValueError("ApiKeys needs at least one key")
        self._keys = tuple(enumerate(encoded))
        self.labels = tuple(f"key:{n}" for n in range(len(encoded)))

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, token: str) -> int | None:
        """The position of the key equal to `token`, or None; the same work whatever matches.

        (Hashing both sides first would hide key lengths too, but SHA-256 through
        OpenSSL costs microseconds per request in a busy server; compare_digest's
        time already depends on the presented token's length only.)
        """
        presented = token.encode("utf-8", "surrogateescape")
        compare = hmac.compare_digest
        found = -1
        for position, key in self._keys:
            if compare(presented, key):  # every key is compared: no early exit
                found = position
        return found if found >= 0 else None


def _keys_of(text: str, where: str) -> list[str]:
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        key = line.split("#", 1)[0].strip()  # `#` cannot be part of a key (see _TOKEN)
        if not key:
            continue
        if not _TOKEN.fullmatch(key):  # never echo the key itself: it may be a real one with a typo
            raise InvalidSetting(f"{where}, entry {number}: an API key may only hold letters, digits and "
                                 f"-._~+/ (then = padding), without spaces", variable=where.split()[0])
        keys.append(key)
    return keys


def load_keys(env: Mapping[str, str] | None = None) -> list[str] | None:
    """The keys from QUALIA_API_KEYS and QUALIA_API_KEYS_FILE; None when neither is set (keys off)."""
    env = os.environ if env is None else env
    inline = env.get(API_KEYS_VAR, "")
    path = env.get(API_KEYS_FILE_VAR, "")
    if not inline.strip() and not path.strip():
        return None
    keys = _keys_of(inline.replace(",", "\n"), API_KEYS_VAR) if inline.strip() else []
    if path.strip():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidSetting(f"{API_KEYS_FILE_VAR}: cannot read the keys file {path}: {exc}",
                                 variable=API_KEYS_FILE_VAR) from None
        keys += _keys_of(text, f"{API_KEYS_FILE_VAR} ({path})")
    if not keys:
        names = " and ".join(name for name, value in ((API_KEYS_VAR, inline), (API_KEYS_FILE_VAR, path))
                             if value.strip())
        raise InvalidSetting(f"{names} is set but holds no API key: refusing to serve without the keys it "
                             f"was meant to require (unset it to turn API keys off)", variable=API_KEYS_VAR)
    return list(dict.fromkeys(keys))


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION)  # an istr: the quickest lookup
    if header is None:
        return None
    if header.startswith("Bearer ") and " " not in header[7:]:  # the usual form, fast
        return header[7:] or None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _unauthorized(message: str, challenge: str) -> web.Response:
    return error_response(Unauthorized.status, Unauthorized.code, message, {"scheme": "Bearer"},
                          headers={"WWW-Authenticate": challenge})


class ApiKeyGate:
    """The gate (see `gates.py`): None for a request with a valid key (or on an open route), else 401.

    The token lives only inside this call, never in a frame that stays on the
    stack while the handler runs (tracebacks, error reports).
    """

    __slots__ = ("keys",)

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def __call__(self, request: web.Request, route: str | None) -> web.Response | None:
        if route in OPEN_ROUTES:
            return None
        token = _bearer(request)
        if token is None and route in QUERY_KEY_ROUTES:
            token = request.query.get(QUERY_KEY) or None
        if token is None:
            return _unauthorized("an API key is required: send Authorization: Bearer <key>"
                                 + (" (or ?key=<key> on this page)" if route in QUERY_KEY_ROUTES else ""),
                                 _CHALLENGE)
        position = self.keys.match(token)
        if position is None:
            return _unauthorized("the API key is not valid", _INVALID_CHALLENGE)
        request[CLIENT_KEY] = self.keys.labels[position]
        return None


BEARER_SCHEME = "bearerAuth"
QUERY_SCHEME = "queryKey"


def describe_auth(doc: ApiDoc) -> None:
    """Declare in the OpenAPI document what the gate enforces: a bearer key everywhere but the open routes."""
    bearer = [{BEARER_SCHEME: []}]
    routes: dict[str, list[dict[str, list[str]]]] = {route: [] for route in OPEN_ROUTES}
    routes.update({route: [*bearer, {QUERY_SCHEME: []}] for route in QUERY_KEY_ROUTES})
    doc.secure({BEARER_SCHEME: {"type": "http", "scheme": "bearer",
                                "description": "An API key (QUALIA_API_KEYS): `Authorization: Bearer <key>`"},
                QUERY_SCHEME: {"type": "apiKey", "in": "query", "name": QUERY_KEY,
                               "description": "The same key as `?key=`, for the dashboard and its stream "
                                              "(a browser's EventSource cannot send headers)"}},
               bearer, routes)


def auth_gate(env: Mapping[str, str] | None = None, *, keys: Iterable[str] | None = None) -> ApiKeyGate | None:
    """The API-key gate when keys are configured (`keys`, else the environment); None (logged) when off."""
    found = list(keys) if keys is not None else load_keys(env)
    if not found:
        log.info("API keys: off (set %s or %s to require them)", API_KEYS_VAR, API_KEYS_FILE_VAR)
        return None
    api_keys = ApiKeys(found)
    log.info("API keys: on (%d key%s; /health and signed webhooks are open)", len(api_keys),
             "" if len(api_keys) == 1 else "s")
    return ApiKeyGate(api_keys)


def setup_auth(app: web.Application, env: Mapping[str, str] | None = None, *,
               keys: Iterable[str] | None = None) -> ApiKeyGate | None:
    """Require API keys on `app` alone (`setup_ops` runs all the gates in one middleware)."""
    gate = auth_gate(env, keys=keys)
    if gate is not None:
        app.middlewares.append(gate_middleware([gate]))
        doc = app.get(API_DOC)
        if doc is not None:
            describe_auth(doc)
    return gate
