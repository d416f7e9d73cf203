"""Talking to a running `qualia serve` from the CLI (reload a plugin, reset its breaker).

Plain urllib: one small POST, its JSON answer, and the server's error message
on failure. `--url` defaults to QUALIA_URL, else http://127.0.0.1:8000;
`--api-key` to QUALIA_API_KEY (sent as `Authorization: Bearer`).
"""
from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import BadRequest, NotFound, QualiaError, ServerUnreachable, Unauthorized

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 120  # a reload waits for the calls in flight on the old version


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, metavar="URL",
                        help=f"the running server (env QUALIA_URL, default {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="API key when the server requires one (env QUALIA_API_KEY)")


def post(args: argparse.Namespace, path: str) -> dict[str, Any]:
    base = (args.url or os.environ.get("QUALIA_URL") or DEFAULT_URL).rstrip("/")
    key = args.api_key or os.environ.get("QUALIA_API_KEY")
    request = urllib.request.Request(base + path, data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 (the user's server URL)
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body.decode("utf-8", "replace")[:500] or error.reason
        cls: type[QualiaError] = {401: Unauthorized, 404: NotFound}.get(error.code, BadRequest if error.code < 500
                                                                         else QualiaError)
        raise cls(f"{base}{path}: {error.code} {message}", status=error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ServerUnreachable(f"cannot reach the server at {base}: {reason} (is `qualia serve` running? "
                                f"--url names it)", url=base) from None


def quoted(plugin_id: str) -> str:
    return urllib.parse.quote(plugin_id, safe="")
