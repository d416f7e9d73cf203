"""One error tree for the kernel. Leaves only set class attributes.

`status` is the HTTP answer, `code` the stable machine-readable name; the
front and the CLI translate any QualiaError in one place each.
"""
from __future__ import annotations

from typing import Any, ClassVar


class QualiaError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


# ---- the caller's fault -----------------------------------------------------

class BadRequest(QualiaError):
    status = 400
    code = "bad_request"


class NotFound(QualiaError):
    status = 404
    code = "not_found"


class UnknownPlugin(NotFound):
    code = "unknown_plugin"


class InvalidConfig(QualiaError):
    status = 422
    code = "invalid_config"


class InvalidInput(QualiaError):
    """The plugin answered -32602: the text or a value cannot be used."""

    status = 422
    code = "invalid_input"


class MalformedBody(BadRequest):
    """A request body that cannot be parsed (JSON syntax, multipart framing); says where."""

    code = "malformed_body"


class InvalidRequest(QualiaError):
    """A well-formed body with a wrong or missing field; `details.field` names it (`$.text`)."""

    status = 422
    code = "invalid_request"


class WrongPluginKind(QualiaError):
    """The plugin exists but the route runs another kind (analyze needs an analyzer, ...)."""

    status = 422
    code = "wrong_plugin_kind"


class PayloadTooLarge(QualiaError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(QualiaError):
    status = 415
    code = "unsupported_media_type"


class ResolutionError(QualiaError):
    """No order of plugins satisfies the request (missing provider or a cycle)."""

    status = 422
    code = "unresolvable"


# ---- the plugin's fault -----------------------------------------------------

class PluginFault(QualiaError):
    """Counted by the circuit breaker."""

    status = 502
    code = "plugin_failed"


class PluginCrashed(PluginFault):
    code = "plugin_crashed"


class PluginStartFailed(PluginFault):
    code = "plugin_start_failed"


class PluginProtocolError(PluginFault):
    code = "plugin_protocol_error"


class PluginTimeout(PluginFault):
    status = 504
    code = "plugin_timeout"


class PluginOutOfMemory(PluginFault):
    """The plugin went over its memory ceiling (manifest `max_memory_mb`, default QUALIA_MAX_MEMORY_MB)."""

    code = "plugin_out_of_memory"


# ---- temporarily unavailable ------------------------------------------------

class Unavailable(QualiaError):
    status = 503
    code = "unavailable"


class BreakerOpen(Unavailable):
    code = "breaker_open"


class PluginBusy(Unavailable):
    code = "plugin_busy"


class KernelStopped(Unavailable):
    code = "kernel_stopped"


# ---- the service: webhooks and jobs (appended) ---------------------------------

class Unauthorized(QualiaError):
    """A missing, malformed, wrong or stale request signature: nothing runs."""

    status = 401
    code = "unauthorized"


class Conflict(QualiaError):
    """The request is valid but not in the resource's current state (e.g. cancel a finished job)."""

    status = 409
    code = "conflict"


class UnknownJob(NotFound):
    code = "unknown_job"


class WebhookNotConfigured(NotFound):
    """A webhook source without a secret: it answers 404 and never runs unsigned."""

    code = "webhook_not_configured"


class WebhookMisconfigured(Unavailable):
    """The server's own webhook settings are unusable (e.g. the configured plugin is unknown)."""

    code = "webhook_misconfigured"


# ---- operations: API keys, rate limits, bounds, settings (appended) -------------

class RateLimited(QualiaError):
    """Too many requests for this API key (or client address, or webhook source); `Retry-After` says when."""

    status = 429
    code = "rate_limited"


class JsonTooDeep(BadRequest):
    """A JSON body that nests arrays and objects deeper than the limit (QUALIA_MAX_JSON_DEPTH)."""

    code = "json_too_deep"


class InvalidSetting(QualiaError, ValueError):
    """A server setting (an environment variable) that cannot be used; the message names the variable."""

    code = "invalid_setting"
