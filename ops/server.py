"""The operations add-ons of the REST front, installed by `create_app` in one call.

`setup_ops(app)` reads the environment and turns on what is configured, each
with one log line saying whether it is on or off:

- API keys (`ops/auth.py`): QUALIA_API_KEYS, QUALIA_API_KEYS_FILE;
- rate limits (`ops/ratelimit.py`): QUALIA_RATE_LIMIT, QUALIA_RATE_BURST,
  QUALIA_WEBHOOK_RATE_LIMIT, QUALIA_WEBHOOK_RATE_BURST;
- Sentry (`ops/sentry.py`): QUALIA_SENTRY_DSN, QUALIA_SENTRY_ENVIRONMENT.

API keys and rate limits are gates (`gates.py`) run by one middleware,
inside the request id and error middlewares (so 401 and 429 carry the
request id and the JSON error shape), API keys first: a request without a
valid key is refused before it takes a rate-limit token. Sentry is an error
reporter called by the error middleware. An unusable setting raises
`InvalidSetting` naming the variable, so `qualia serve` stops at once with a
clear message.
"""
from __future__ import annotations

import os
from typing import Mapping

from aiohttp import web

from qualia.kernel.server import API_DOC

from .auth import auth_gate, describe_auth
from .gates import gate_middleware
from .ratelimit import rate_limiter
from .sentry import setup_sentry

__all__ = ["setup_ops"]

AUTH_NOTE = (" This server requires an API key on every route but /health and the signed webhooks: send "
             "`Authorization: Bearer <key>` (401 otherwise).")
RATE_NOTE = " Requests are rate limited per API key or client: 429 with `Retry-After` when over the limit."


def setup_ops(app: web.Application, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    auth = auth_gate(env)
    limiter = rate_limiter(env, by_key=auth is not None)
    gates = [gate for gate in (auth, limiter) if gate is not None]
    if gates:
        app.middlewares.append(gate_middleware(gates))
    doc = app.get(API_DOC)
    if doc is not None:
        doc.description += (AUTH_NOTE if auth is not None else "") + (RATE_NOTE if limiter is not None else "")
        if auth is not None:
            describe_auth(doc)
    setup_sentry(app, env)
