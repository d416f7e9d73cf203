"""Rate limits for the REST front: a token bucket per API key (or client address).

Settings (all optional; unset means no limit):

- `QUALIA_RATE_LIMIT`: `N/s` or `N/min` (N may have decimals), the sustained
  rate per API key, or per client address when API keys are off.
  `QUALIA_RATE_BURST`: how many requests may come at once (default N).
- `QUALIA_WEBHOOK_RATE_LIMIT` / `QUALIA_WEBHOOK_RATE_BURST`: the same for
  POST /webhook/{source}, counted per source (`github`, `slack`, `custom`).
  Webhooks never count against the general limit.

GET /health is never limited. A request over the limit is 429 in the JSON
error shape with `Retry-After` (whole seconds, rounded up) and nothing runs.
Requests refused with 401 (no valid API key) are not counted.

A bucket holds up to `burst` tokens and refills at the rate; a request takes
one. The hot path is one `time.monotonic()`, one dict lookup and a little
arithmetic. Memory is bounded: buckets live in an LRU of at most 10,000;
a bucket idle long enough to be full again is the same as a new one, so the
oldest such buckets are dropped as new clients arrive, and past the cap the
least recently used one goes.

Behind a reverse proxy every client has the proxy's address: use API keys (or
limit at the proxy), since X-Forwarded-For is not trusted here.
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from collections import OrderedDict
from typing import Callable, Mapping

import msgspec
from aiohttp import web

from qualia.kernel import InvalidSetting, RateLimited
from qualia.kernel.server import error_response

from .auth import CLIENT_KEY, HEALTH_ROUTE, WEBHOOK_ROUTE
from .gates import gate_middleware

__all__ = ["MAX_BUCKETS", "RateLimitSettings", "RateLimiter", "TokenBuckets", "parse_rate", "rate_limiter",
           "setup_rate_limits"]

log = logging.getLogger("qualia.ops")

MAX_BUCKETS = 10_000
_RATE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*/\s*(s|sec|second|m|min|minute)\s*", re.IGNORECASE)
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}


def parse_rate(text: str, variable: str) -> tuple[float, float]:
    """`N/s` or `N/min` -> (tokens per second, N); a clear InvalidSetting naming `variable` otherwise."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise InvalidSetting(f"{variable}={text!r} is not a rate: write N/s or N/min (e.g. 100/s, 600/min)",
                             variable=variable)
    count = float(match.group(1))
    if not count > 0 or not math.isfinite(count):
        raise InvalidSetting(f"{variable}={text!r}: the rate must be more than 0", variable=variable)
    return count / _PER[match.group(2).lower()], count


def _parse_burst(text: str, variable: str) -> float:
    try:
        burst = float(text)
    except ValueError:
        raise InvalidSetting(f"{variable}={text!r} is not a number of requests", variable=variable) from None
    if not (burst >= 1 and math.isfinite(burst)):
        raise InvalidSetting(f"{variable}={text!r}: the burst must be at least 1", variable=variable)
    return burst


class RateLimitSettings(msgspec.Struct, kw_only=True, frozen=True):
    rate: float | None = None  # tokens per second; None = no limit
    burst: float = 1.0
    label: str = ""  # as configured, for messages: "100/s"
    webhook_rate: float | None = None
    webhook_burst: float = 1.0
    webhook_label: str = ""
    max_buckets: int = MAX_BUCKETS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RateLimitSettings":
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for prefix, field in (("QUALIA_RATE", ""), ("QUALIA_WEBHOOK_RATE", "webhook_")):
            limit_var, burst_var = f"{prefix}_LIMIT", f"{prefix}_BURST"
            text = env.get(limit_var, "").strip()
            burst_text = env.get(burst_var, "").strip()
            if not text:
                if burst_text:
                    raise InvalidSetting(f"{burst_var} is set but {limit_var} is not: set the rate too",
                                         variable=burst_var)
                continue
            rate, count = parse_rate(text, limit_var)
            values[f"{field}rate"] = rate
            values[f"{field}burst"] = _parse_burst(burst_text, burst_var) if burst_text else max(1.0, count)
            values[f"{field}label"] = text.replace(" ", "")
        return cls(**values)  # type: ignore[arg-type]


class TokenBuckets:
    """One token bucket per key, in a bounded LRU. `take(key)` is 0.0 when allowed, else seconds to wait."""

    __slots__ = ("rate", "burst", "max_buckets", "_buckets", "_clock", "_idle_s")

    def __init__(self, rate: float, burst: float, max_buckets: int = MAX_BUCKETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or not burst >= 1 or max_buckets < 1:
            raise ValueError("TokenBuckets needs rate > 0, burst >= 1 and max_buckets >= 1")
        self.rate = rate
        self.burst = burst
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, last refill]
        self._clock = clock
        self._idle_s = burst / rate  # a bucket idle this long is full again: as good as new

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        now = self._clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            self._make_room(now)
            buckets[key] = [self.burst - 1.0, now]
            return 0.0
        buckets.move_to_end(key)
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _make_room(self, now: float) -> None:
        buckets = self._buckets
        # Expire a couple of idle buckets per new one (amortised), then enforce the cap.
        for _ in range(2):
            if not buckets:
                return
            oldest = next(iter(buckets.values()))
            if now - oldest[1] < self._idle_s:
                break
            buckets.popitem(last=False)
        while len(buckets) >= self.max_buckets:
            buckets.popitem(last=False)


def _too_many(wait_s: float, limit: str, burst: float, variable: str) -> web.Response:
    retry = max(1, math.ceil(wait_s))
    return error_response(RateLimited.status, RateLimited.code,
                          f"too many requests: the limit is {limit} with bursts of {burst:g} ({variable}); "
                          f"retry in {retry} s", {"retry_after_s": retry, "limit": limit, "burst": burst},
                          headers={"Retry-After": str(retry)})


class RateLimiter:
    """The gate (see `gates.py`): None while the request's bucket has a token, else 429.

    Runs after the API-key gate, whose `CLIENT_KEY` names the bucket (`key:<n>`);
    without keys the bucket is the client's address.
    """

    __slots__ = ("settings", "general", "webhooks", "by_key")

    def __init__(self, settings: RateLimitSettings, *, by_key: bool = True) -> None:
        self.settings = settings
        self.by_key = by_key  # False: API keys are off, every bucket is a client address
        self.general = (TokenBuckets(settings.rate, settings.burst, settings.max_buckets)
                        if settings.rate is not None else None)
        self.webhooks = (TokenBuckets(settings.webhook_rate, settings.webhook_burst, settings.max_buckets)
                         if settings.webhook_rate is not None else None)

    def _client(self, request: web.Request) -> str:
        if self.by_key:
            try:
                return request[CLIENT_KEY]  # set by the API-key gate (a KeyError costs more than a hit)
            except KeyError:  # an open route (the dashboard's assets), or keys are off
                pass
        return request.remote or "-"

    def __call__(self, request: web.Request, route: str | None) -> web.Response | None:
        if route == HEALTH_ROUTE:
            return None
        if route == WEBHOOK_ROUTE:
            if self.webhooks is not None:
                wait = self.webhooks.take(request.match_info["source"])
                if wait:
                    settings = self.settings
                    return _too_many(wait, settings.webhook_label, settings.webhook_burst,
                                     "QUALIA_WEBHOOK_RATE_LIMIT")
        elif self.general is not None:
            wait = self.general.take(self._client(request))
            if wait:
                settings = self.settings
                return _too_many(wait, settings.label, settings.burst, "QUALIA_RATE_LIMIT")
        return None


def rate_limiter(env: Mapping[str, str] | None = None, *, settings: RateLimitSettings | None = None,
                 by_key: bool = True) -> RateLimiter | None:
    """The rate-limit gate when a limit is configured (`settings`, else the environment); None (logged) when off."""
    settings = settings or RateLimitSettings.from_env(env)
    if settings.rate is None and settings.webhook_rate is None:
        log.info("rate limits: off (set QUALIA_RATE_LIMIT and/or QUALIA_WEBHOOK_RATE_LIMIT, e.g. 100/s)")
        return None
    log.info("rate limits: %s per API key or client, burst %s; webhooks: %s per source, burst %s",
             settings.label or "none", f"{settings.burst:g}" if settings.rate else "-",
             settings.webhook_label or "none", f"{settings.webhook_burst:g}" if settings.webhook_rate else "-")
    return RateLimiter(settings, by_key=by_key)


def setup_rate_limits(app: web.Application, env: Mapping[str, str] | None = None, *,
                      settings: RateLimitSettings | None = None) -> RateLimiter | None:
    """Rate limits on `app` alone (`setup_ops` runs all the gates in one middleware)."""
    limiter = rate_limiter(env, settings=settings)
    if limiter is not None:
        app.middlewares.append(gate_middleware([limiter]))
    return limiter
