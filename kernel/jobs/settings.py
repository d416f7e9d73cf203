"""Job and callback settings: environment variables `QUALIA_JOB_*` and `QUALIA_CALLBACK_*`.

Kept apart from the kernel's `Settings` because only the service needs them;
every timing is a field so tests can make retries and leases fast.
"""
from __future__ import annotations

import os
from typing import Mapping

import msgspec

from ..settings import read_env_numbers

__all__ = ["JobSettings"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class JobSettings(msgspec.Struct, kw_only=True):
    workers: int = 2
    """Jobs run at once by one runner (QUALIA_JOB_WORKERS)."""
    max_attempts: int = 3
    """Starts of one job (first run, restarts after a crash, retries after 503s) before it fails."""
    retry_delay_s: float = 5.0
    """Wait before retrying a job whose plugin was temporarily unavailable (breaker open, busy)."""
    lease_s: float = 30.0
    """A running job's owner renews its lease every lease_s / 3; an expired lease means the owner died."""
    poll_s: float = 2.0
    """How often the store is checked for work other processes queued (own submissions wake at once)."""
    max_documents: int = 1000
    retention_days: float = 30.0
    """Finished jobs older than this are deleted at start (0 keeps them forever)."""
    sse_heartbeat_s: float = 15.0
    sse_retry_ms: int = 2000

    callback_secret: str | None = None
    """Signs callbacks (X-Qualia-Signature); QUALIA_CALLBACK_SECRET, else QUALIA_WEBHOOK_SECRET."""
    callback_attempts: int = 5
    callback_backoff_s: float = 0.5
    callback_backoff_factor: float = 2.0
    callback_backoff_max_s: float = 60.0
    callback_timeout_s: float = 10.0
    callback_concurrency: int = 8
    """POSTs in flight at once; a delivery waiting for its next attempt holds no slot."""
    callback_allow_private: bool = False
    """Let callbacks reach loopback, link-local and private addresses (QUALIA_CALLBACK_ALLOW_PRIVATE)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "JobSettings":
        env = os.environ if env is None else env
        values = read_env_numbers(env, {
            "workers": ("QUALIA_JOB_WORKERS", int),
            "max_attempts": ("QUALIA_JOB_MAX_ATTEMPTS", int),
            "retry_delay_s": ("QUALIA_JOB_RETRY_DELAY_S", float),
            "lease_s": ("QUALIA_JOB_LEASE_S", float),
            "poll_s": ("QUALIA_JOB_POLL_S", float),
            "max_documents": ("QUALIA_JOB_MAX_DOCUMENTS", int),
            "retention_days": ("QUALIA_JOB_RETENTION_DAYS", float),
            "sse_heartbeat_s": ("QUALIA_SSE_HEARTBEAT_S", float),
            "callback_attempts": ("QUALIA_CALLBACK_ATTEMPTS", int),
            "callback_backoff_s": ("QUALIA_CALLBACK_BACKOFF_S", float),
            "callback_backoff_factor": ("QUALIA_CALLBACK_BACKOFF_FACTOR", float),
            "callback_backoff_max_s": ("QUALIA_CALLBACK_BACKOFF_MAX_S", float),
            "callback_timeout_s": ("QUALIA_CALLBACK_TIMEOUT_S", float),
            "callback_concurrency": ("QUALIA_CALLBACK_CONCURRENCY", int),
        })
        secret = env.get("QUALIA_CALLBACK_SECRET") or env.get("QUALIA_WEBHOOK_SECRET")
        if secret:
            values["callback_secret"] = secret
        allow = env.get("QUALIA_CALLBACK_ALLOW_PRIVATE", "").strip().lower()
        if allow:
            if allow not in _TRUE + _FALSE:
                raise ValueError(f"environment variable QUALIA_CALLBACK_ALLOW_PRIVATE={allow!r} is not a yes/no "
                                 f"value ({', '.join(_TRUE)} or {', '.join(_FALSE)})")
            values["callback_allow_private"] = allow in _TRUE
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that would stall or spin the runner; the message names the variable."""
        positive_ints = {"workers": "QUALIA_JOB_WORKERS", "max_attempts": "QUALIA_JOB_MAX_ATTEMPTS",
                         "max_documents": "QUALIA_JOB_MAX_DOCUMENTS", "callback_attempts": "QUALIA_CALLBACK_ATTEMPTS",
                         "callback_concurrency": "QUALIA_CALLBACK_CONCURRENCY"}
        for field, name in positive_ints.items():
            if getattr(self, field) < 1:
                raise ValueError(f"{name} must be >= 1")
        positive = {"lease_s": "QUALIA_JOB_LEASE_S", "poll_s": "QUALIA_JOB_POLL_S",
                    "sse_heartbeat_s": "QUALIA_SSE_HEARTBEAT_S", "callback_timeout_s": "QUALIA_CALLBACK_TIMEOUT_S"}
        for field, name in positive.items():
            if not getattr(self, field) > 0:  # also rejects nan
                raise ValueError(f"{name} must be > 0")
        if not (self.retry_delay_s >= 0 and self.callback_backoff_s >= 0 and self.retention_days >= 0):
            raise ValueError("QUALIA_JOB_RETRY_DELAY_S, QUALIA_CALLBACK_BACKOFF_S and QUALIA_JOB_RETENTION_DAYS "
                             "must be >= 0")
        if not self.callback_backoff_factor >= 1:
            raise ValueError("QUALIA_CALLBACK_BACKOFF_FACTOR must be >= 1")
