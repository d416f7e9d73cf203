"""HMAC-SHA256 request signatures: the schemes webhooks arrive with and callbacks leave with.

Pure functions over raw bytes, so the front checks a signature before it
parses anything, and tests pin each scheme to its documented example.

- `sha256=<hex>` of the raw body: our own scheme (`X-Qualia-Signature`, for
  custom webhooks and outgoing callbacks) and GitHub's (`X-Hub-Signature-256`).
- Slack's `v0`: `v0=<hex>` of `v0:{timestamp}:{raw body}` (`X-Slack-Signature`
  with `X-Slack-Request-Timestamp`), valid only within a replay window.

Every comparison is constant-time (`hmac.compare_digest`), and a malformed
header is simply "not valid": the caller turns any False into a 401.
"""
from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "SLACK_WINDOW_S",
    "sign_body",
    "sign_slack",
    "slack_timestamp_fresh",
    "verify_body",
    "verify_slack",
]

SLACK_WINDOW_S = 300.0
"""Slack's advice: refuse requests whose timestamp is more than five minutes away from now."""


def _hex_hmac(secret: str | bytes, message: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_body(secret: str | bytes, body: bytes) -> str:
    """The header value `sha256=<hex>` for `body` (GitHub's scheme and ours)."""
    return "sha256=" + _hex_hmac(secret, body)


def verify_body(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True if `header` is `sha256=<hex>` of `body` under `secret`."""
    if not header:
        return False
    return hmac.compare_digest(sign_body(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


def sign_slack(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The header value `v0=<hex>` Slack sends for `body` at `timestamp` (Unix seconds)."""
    return "v0=" + _hex_hmac(secret, b"v0:" + str(timestamp).encode("ascii") + b":" + body)


def slack_timestamp_fresh(timestamp: str | None, now: float, window_s: float = SLACK_WINDOW_S) -> bool:
    """True if `timestamp` is whole Unix seconds within `window_s` of `now`, either way."""
    if not timestamp or not timestamp.isascii() or not timestamp.strip().isdigit():
        return False
    return abs(now - int(timestamp)) <= window_s


def verify_slack(secret: str | bytes, timestamp: str | None, body: bytes, header: str | None, *, now: float,
                 window_s: float = SLACK_WINDOW_S) -> bool:
    """True if the timestamp is fresh and `header` is Slack's v0 signature of it and `body`."""
    if not header or not slack_timestamp_fresh(timestamp, now, window_s):
        return False
    assert timestamp is not None
    expected = sign_slack(secret, timestamp.strip(), body).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))
