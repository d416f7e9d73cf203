"""POST /webhook/{source}: signed events from outside become durable jobs.

Sources: `custom` (our scheme), `github`, `slack`. For each request, in order:

1. A source whose secret is not set answers 404 `webhook_not_configured`:
   it never runs unsigned. An unknown source is 404 too.
2. The raw body is read and its signature checked before anything is parsed
   (constant-time comparison). Missing, malformed, wrong or (Slack) stale:
   401 `unauthorized`, and nothing is stored or run.
3. Only then the body is parsed: not JSON is 400, JSON that is not a usable
   event is 422 (never 401: the sender is authentic, its payload is wrong).
4. The job is queued and the answer is 202 `{"job_id", …}` with
   `Location: /jobs/{id}` at once. A delivery id seen before for the same
   source answers 200 with the same job id and `"duplicate": true`, and
   nothing runs again. Delivery ids: `X-Qualia-Delivery` (or the body's
   `delivery_id`), `X-GitHub-Delivery`, Slack's `event_id`; a custom or GitHub
   request without one is identified by the sha256 of its body, so a replayed
   request never runs twice (send a delivery id to repeat the same body).

Events the front does not analyse (a GitHub `push`, an issue `closed`, a Slack
bot message or reaction) answer 202 `{"ignored": true, "reason": …}`, not 422:
GitHub and Slack show any non-2xx answer as a failed delivery (and Slack
retries it), yet nothing is wrong. GitHub's `ping` answers 200; Slack's
`url_verification` answers 200 with the challenge.

Settings: QUALIA_WEBHOOK_SECRET (custom), QUALIA_GITHUB_SECRET,
QUALIA_SLACK_SIGNING_SECRET; QUALIA_GITHUB_PLUGIN and QUALIA_SLACK_PLUGIN
(default `sentiment_analyzer`) pick the plugin that analyses the text.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Mapping
from urllib.parse import parse_qs

import msgspec
from aiohttp import web

from qualia.plugin_sdk.document import Document

from ..errors import (InvalidRequest, MalformedBody, NotFound, QualiaError, Unauthorized, WebhookMisconfigured,
                      WebhookNotConfigured)
from ..jobs import JobSpec, parse_job_request, plan_job
from ..jobs.spec import MAX_DELIVERY_ID
from ..signatures import SLACK_WINDOW_S, verify_body, verify_slack
from .bodies import check_json_depth, read_body
from .errors import decode_position
from .jobs_service import JOBS, JobAccepted, accepted
from .schemas import json_response
from .state import DEFAULT_MAX_JSON_DEPTH, SETTINGS

__all__ = ["SOURCES", "WEBHOOKS", "WebhookSettings", "setup_webhook_routes"]

SIGNATURE_HEADER = "X-Qualia-Signature"
DELIVERY_HEADER = "X-Qualia-Delivery"
DEFAULT_PLUGIN = "sentiment_analyzer"

# GitHub events whose text is analysed: event -> (payload key, actions, has a title)
GITHUB_EVENTS: dict[str, tuple[str, frozenset[str], bool]] = {
    "issues": ("issue", frozenset({"opened", "edited", "reopened"}), True),
    "pull_request": ("pull_request", frozenset({"opened", "edited", "reopened"}), True),
    "discussion": ("discussion", frozenset({"created", "edited"}), True),
    "issue_comment": ("comment", frozenset({"created", "edited"}), False),
    "pull_request_review_comment": ("comment", frozenset({"created", "edited"}), False),
    "pull_request_review": ("review", frozenset({"submitted", "edited"}), False),
    "discussion_comment": ("comment", frozenset({"created", "edited"}), False),
    "commit_comment": ("comment", frozenset({"created"}), False),
}
SLACK_EVENTS = frozenset({"message", "app_mention"})


class WebhookSettings(msgspec.Struct, kw_only=True):
    custom_secret: str | None = None
    github_secret: str | None = None
    slack_secret: str | None = None
    github_plugin: str = DEFAULT_PLUGIN
    slack_plugin: str = DEFAULT_PLUGIN
    slack_window_s: float = SLACK_WINDOW_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "WebhookSettings":
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "custom_secret": env.get("QUALIA_WEBHOOK_SECRET") or None,
            "github_secret": env.get("QUALIA_GITHUB_SECRET") or None,
            "slack_secret": env.get("QUALIA_SLACK_SIGNING_SECRET") or None,
            "github_plugin": env.get("QUALIA_GITHUB_PLUGIN") or DEFAULT_PLUGIN,
            "slack_plugin": env.get("QUALIA_SLACK_PLUGIN") or DEFAULT_PLUGIN,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


WEBHOOKS = web.AppKey("qualia_webhooks", WebhookSettings)


class WebhookIgnored(msgspec.Struct, kw_only=True):
    """A signed, well-formed event that the front does not analyse (202)."""

    ignored: bool = True
    source: str
    event: str | None
    reason: str


class WebhookPong(msgspec.Struct, kw_only=True):
    """GitHub's `ping` (sent when a webhook is created)."""

    ok: bool = True
    zen: str | None = None
    hook_id: int | None = None


class SlackChallenge(msgspec.Struct, kw_only=True):
    challenge: str


# ---- the shared steps --------------------------------------------------------------

def _secret(value: str | None, source: str, variable: str) -> str:
    if not value:
        raise WebhookNotConfigured(f"webhook source {source!r} is not configured: set {variable} to accept it",
                                   source=source)
    return value


def _unauthorized(source: str, reason: str) -> Unauthorized:
    return Unauthorized(f"{source} webhook rejected: {reason}; nothing was run", source=source)


def decode_object(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, Any]:
    """The JSON object of a (verified) body: 400 if it is not JSON or nests too deep, 422 if not an object."""
    if not body.strip():
        raise MalformedBody("the request body is empty: send a JSON object", byte=0, line=1, column=1)
    check_json_depth(body, max_depth, "the webhook body")
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        where = decode_position(body, exc)
        raise MalformedBody(f"the body is not JSON: {exc} (line {where['line']}, column {where['column']})",
                            **where) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"the body must be a JSON object, not {type(value).__name__}", field="$")
    return value


def _delivery_id(given: str | None, body: bytes) -> str:
    if given is None or not given.strip():
        return "sha256:" + hashlib.sha256(body).hexdigest()
    given = given.strip()
    if len(given) > MAX_DELIVERY_ID:
        raise InvalidRequest(f"the delivery id is longer than {MAX_DELIVERY_ID} characters", field="delivery_id")
    return given


def _ignored(source: str, event: str | None, reason: str) -> web.Response:
    return json_response(WebhookIgnored(source=source, event=event, reason=reason), status=202)


def _plugin_job(request: web.Request, plugin: str, document: Document, source: str) -> JobSpec:
    """The job of a GitHub/Slack event: the configured plugin on one document (503 if it cannot run)."""
    spec = JobSpec(kind="plugin", plugin=plugin, documents=[document])
    try:
        plan_job(request.app[JOBS].get_runner().kernel, spec)
    except QualiaError as exc:
        if exc.status >= 500:
            raise
        variable = f"QUALIA_{source.upper()}_PLUGIN"
        raise WebhookMisconfigured(f"the {source} webhook cannot run plugin {plugin!r} ({variable}): {exc.message}",
                                   source=source, plugin=plugin) from None
    return spec


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string", field=field)
    return value


# ---- the sources ---------------------------------------------------------------------

async def custom(request: web.Request) -> web.Response:
    """Our own scheme: X-Qualia-Signature: sha256=<hex> of the raw body (QUALIA_WEBHOOK_SECRET)."""
    secret = _secret(request.app[WEBHOOKS].custom_secret, "custom", "QUALIA_WEBHOOK_SECRET")
    body = await read_body(request)
    if not verify_body(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise _unauthorized("custom", f"missing or wrong {SIGNATURE_HEADER} (expected sha256=<hex HMAC-SHA256 "
                                      "of the raw body>)")
    raw = decode_object(body, request.app[SETTINGS].max_json_depth)
    service = request.app[JOBS]
    spec, job_request = parse_job_request(raw, max_documents=service.settings.max_documents,
                                          allow_private_callbacks=service.settings.callback_allow_private)
    plan_job(service.get_runner().kernel, spec)
    delivery = _delivery_id(request.headers.get(DELIVERY_HEADER) or job_request.delivery_id, body)
    return accepted(request, spec, source="custom", delivery_id=delivery, callback_url=job_request.callback_url)


async def github(request: web.Request) -> web.Response:
    """GitHub: X-Hub-Signature-256 (QUALIA_GITHUB_SECRET); issues, pull requests and comments."""
    settings = request.app[WEBHOOKS]
    secret = _secret(settings.github_secret, "github", "QUALIA_GITHUB_SECRET")
    body = await read_body(request)
    if not verify_body(secret, body, request.headers.get("X-Hub-Signature-256")):
        raise _unauthorized("github", "missing or wrong X-Hub-Signature-256")
    event = request.headers.get("X-GitHub-Event")
    if not event:
        raise InvalidRequest("no X-GitHub-Event header: which event is this?", field="X-GitHub-Event")
    if request.content_type == "application/x-www-form-urlencoded":  # GitHub's other content type
        form = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in form:
            raise MalformedBody("a form-encoded GitHub delivery needs a 'payload' field")
        payload = decode_object(form["payload"][0].encode("utf-8"), request.app[SETTINGS].max_json_depth)
    else:
        payload = decode_object(body, request.app[SETTINGS].max_json_depth)
    if event == "ping":
        hook_id = payload.get("hook_id")
        zen = payload.get("zen")
        return json_response(WebhookPong(zen=zen if isinstance(zen, str) else None,
                                         hook_id=hook_id if isinstance(hook_id, int) else None))
    known = GITHUB_EVENTS.get(event)
    if known is None:
        return _ignored("github", event, f"event {event!r} is not analysed (analysed: {', '.join(GITHUB_EVENTS)})")
    key, actions, titled = known
    action = payload.get("action")
    if action not in actions:
        return _ignored("github", event, f"{event} action {action!r} is not analysed (analysed: "
                                         f"{', '.join(sorted(actions))})")
    item = payload.get(key)
    if not isinstance(item, dict):
        raise InvalidRequest(f"a {event} event needs the object {key!r}", field=f"$.{key}")
    parts = [_text(item.get("title"), f"$.{key}.title")] if titled else []
    parts.append(_text(item.get("body"), f"$.{key}.body"))
    text = "\n\n".join(part for part in parts if part.strip())
    if not text.strip():
        return _ignored("github", event, f"the {key} has no text")
    repository = payload.get("repository")
    user = item.get("user")
    metadata = {
        "source": "github", "event": event, "action": action,
        "repository": repository.get("full_name") if isinstance(repository, dict) else None,
        "url": item.get("html_url"), "author": user.get("login") if isinstance(user, dict) else None,
    }
    document = Document(id=f"github:{event}:{item.get('id', '')}", text=text, metadata=metadata)
    spec = _plugin_job(request, settings.github_plugin, document, "github")
    delivery = _delivery_id(request.headers.get("X-GitHub-Delivery"), body)
    return accepted(request, spec, source="github", delivery_id=delivery, callback_url=None)


async def slack(request: web.Request) -> web.Response:
    """Slack Events API: v0 signature with a 5-minute replay window (QUALIA_SLACK_SIGNING_SECRET)."""
    settings = request.app[WEBHOOKS]
    secret = _secret(settings.slack_secret, "slack", "QUALIA_SLACK_SIGNING_SECRET")
    body = await read_body(request)
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    if not verify_slack(secret, timestamp, body, request.headers.get("X-Slack-Signature"), now=time.time(),
                        window_s=settings.slack_window_s):
        raise _unauthorized("slack", "missing or wrong X-Slack-Signature, or X-Slack-Request-Timestamp missing or "
                                     f"more than {settings.slack_window_s:g} s from the server's clock")
    payload = decode_object(body, request.app[SETTINGS].max_json_depth)
    kind = payload.get("type")
    if kind == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise InvalidRequest("url_verification needs a string 'challenge'", field="$.challenge")
        return json_response(SlackChallenge(challenge=challenge))
    if kind != "event_callback":
        return _ignored("slack", kind if isinstance(kind, str) else None, f"payload type {kind!r} is not analysed")
    event_id = payload.get("event_id")
    event = payload.get("event")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidRequest("an event_callback needs a string 'event_id'", field="$.event_id")
    if not isinstance(event, dict):
        raise InvalidRequest("an event_callback needs the object 'event'", field="$.event")
    event_type = event.get("type")
    if event_type not in SLACK_EVENTS:
        return _ignored("slack", str(event_type), f"event type {event_type!r} is not analysed")
    if event.get("subtype") or event.get("bot_id"):
        return _ignored("slack", event_type, "bot messages and message edits/deletions are not analysed")
    text = _text(event.get("text"), "$.event.text")
    if not text.strip():
        return _ignored("slack", event_type, "the message has no text")
    metadata = {"source": "slack", "event": event_type, "team_id": payload.get("team_id"),
                "channel": event.get("channel"), "user": event.get("user"), "ts": event.get("ts")}
    document = Document(id=f"slack:{event.get('channel', '')}:{event.get('ts', '')}", text=text, metadata=metadata)
    spec = _plugin_job(request, settings.slack_plugin, document, "slack")
    return accepted(request, spec, source="slack", delivery_id=_delivery_id(event_id, body), callback_url=None)


SOURCES: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
    "custom": custom, "github": github, "slack": slack}


async def webhook(request: web.Request) -> web.Response:
    source = request.match_info["source"]
    handler = SOURCES.get(source)
    if handler is None:
        raise NotFound(f"unknown webhook source {source!r}; known: {', '.join(SOURCES)}", source=source)
    return await handler(request)


def setup_webhook_routes(app: web.Application, settings: WebhookSettings | None = None) -> None:
    app[WEBHOOKS] = settings or WebhookSettings.from_env()
    app.router.add_post("/webhook/{source}", webhook)


def describe(doc: Any) -> None:
    from ..jobs import JobRequest

    doc.add("post", "/webhook/{source}", "webhook", tag="jobs", summary="Receive a signed webhook",
            description="`source` is `custom` (X-Qualia-Signature: sha256=<hex> of the raw body, "
                        "QUALIA_WEBHOOK_SECRET; the body is a job request: `text`/`document`/`documents`, "
                        "`plugin`+`config` or `pipeline`, `callback_url`, `delivery_id`), `github` "
                        "(X-Hub-Signature-256, QUALIA_GITHUB_SECRET; issues, pull requests, discussions and "
                        "comments are analysed with QUALIA_GITHUB_PLUGIN) or `slack` (v0 signature with a 5-minute "
                        "window, QUALIA_SLACK_SIGNING_SECRET; message text with QUALIA_SLACK_PLUGIN). Answers 202 "
                        "with the job id at once; a repeated delivery id answers 200 with the same job, flagged "
                        "`duplicate`; events not analysed answer 202 `{\"ignored\": true, \"reason\"}`; GitHub's "
                        "`ping` answers 200 `{\"ok\": true}`, Slack's `url_verification` 200 `{\"challenge\"}`. "
                        "401: bad signature, nothing runs; "
                        "404: unknown or unconfigured source.",
            request=JobRequest,
            responses={202: JobAccepted, 200: JobAccepted},
            errors=(400, 401, 404, 413, 422, 503))
