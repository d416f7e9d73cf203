"""One error tree for Qualia. Leaves only set class attributes.

Each class carries its whole mapping, so this module is the one table:
`status` is the HTTP answer, `code` the stable machine-readable name in the
JSON error body, `exit_code` what the `qualia` command exits with (2: the
caller's fault, 1: a failure while working), and `rpc_code` the JSON-RPC code
the same failure has on the plugin wire. The error middleware reads
`status`/`code`, the CLI `exit_code`; `translate` turns the SDK's own errors
(manifest, config, JSON-RPC; plugins cannot import the kernel, so the SDK
keeps its wire-level types) into their place in this tree. `error_table()`
lists every class for the documentation, which a test keeps current.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


class QualiaError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    exit_code: ClassVar[int] = 1
    rpc_code: ClassVar[int] = -32603  # JSON-RPC internal error

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


# ---- the caller's fault -----------------------------------------------------

class CallerError(QualiaError):
    """The request cannot be carried out as given: the caller must change it (4xx, exit 2, -32602)."""

    status = 400
    code = "bad_request"
    exit_code = 2
    rpc_code = -32602


class BadRequest(CallerError):
    status = 400
    code = "bad_request"


class UsageError(BadRequest):
    """A command line that cannot run as written (a flag, a value, a combination)."""

    code = "usage_error"


class NotFound(CallerError):
    status = 404
    code = "not_found"


class UnknownPlugin(NotFound):
    code = "unknown_plugin"


class InvalidConfig(CallerError):
    status = 422
    code = "invalid_config"


class InvalidInput(CallerError):
    """The plugin answered -32602: the text or a value cannot be used."""

    status = 422
    code = "invalid_input"


class MalformedBody(BadRequest):
    """A request body that cannot be parsed (JSON syntax, multipart framing); says where."""

    code = "malformed_body"


class InvalidRequest(CallerError):
    """A well-formed body with a wrong or missing field; `details.field` names it (`$.text`)."""

    status = 422
    code = "invalid_request"


class WrongPluginKind(CallerError):
    """The plugin exists but the route runs another kind (analyze needs an analyzer, ...)."""

    status = 422
    code = "wrong_plugin_kind"


class PayloadTooLarge(CallerError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(CallerError):
    status = 415
    code = "unsupported_media_type"


class ResolutionError(CallerError):
    """No order of plugins satisfies the request (missing provider or a cycle)."""

    status = 422
    code = "unresolvable"


# ---- the plugin's fault -----------------------------------------------------

class PluginFault(QualiaError):
    """The plugin's fault, counted by the circuit breaker (5xx, exit 1)."""

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


class PluginChanged(Unavailable):
    """The plugin's files changed on disk since its manifest was loaded: it must be reloaded before it
    starts again (the kernel does so and retries once; a caller sees this only if it changes again)."""

    code = "plugin_changed"


# ---- the service: webhooks and jobs (appended) ---------------------------------

class Unauthorized(CallerError):
    """A missing, malformed, wrong or stale request signature: nothing runs."""

    status = 401
    code = "unauthorized"


class Conflict(CallerError):
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

class RateLimited(CallerError):
    """Too many requests for this API key (or client address, or webhook source); `Retry-After` says when."""

    status = 429
    code = "rate_limited"


class JsonTooDeep(BadRequest):
    """A JSON body that nests arrays and objects deeper than the limit (QUALIA_MAX_JSON_DEPTH)."""

    code = "json_too_deep"


class MalformedRequest(BadRequest):
    """An HTTP request the parser refuses (bare LF line endings, a control character in a header, an
    over-long line); answered before any route runs, and the connection is closed."""

    code = "malformed_request"


class RequestTimeout(CallerError):
    """The request body did not arrive within QUALIA_BODY_TIMEOUT_S; the connection is closed."""

    status = 408
    code = "request_timeout"


class TooManyConnections(Unavailable):
    """A client address already holds QUALIA_MAX_CONNECTIONS_PER_CLIENT open connections."""

    code = "too_many_connections"


class InvalidSetting(QualiaError, ValueError):
    """A setting (an environment variable, a flag) that cannot be used; the message names it."""

    code = "invalid_setting"
    exit_code = 2


# ---- input files: what kernel.readers refuses --------------------------------------

class UnreadableInput(CallerError):
    """A file or upload that cannot become Documents; `details.file` names it, `details.reason` says why."""

    status = 422
    code = "unreadable_input"


class EmptyInput(UnreadableInput):
    code = "empty_input"


class UnsupportedFormat(UnreadableInput):
    """Binary data, or text in no encoding that can be detected."""

    status = 415
    code = "unsupported_format"


class NoTextLayer(UnreadableInput):
    """A PDF whose pages carry no text (a scan): it needs OCR first."""

    code = "no_text_layer"


class InputTooLarge(UnreadableInput):
    """An archive (.docx) that would inflate beyond QUALIA_MAX_UNPACKED_BYTES / QUALIA_MAX_UNPACK_RATIO."""

    status = 413
    code = "input_too_large"


# ---- storage: the cache, the job store, backups ------------------------------------

class StorageError(QualiaError):
    """A file under QUALIA_HOME cannot be used (corrupt, foreign, newer schema, I/O); names the file."""

    code = "storage_error"

    def __init__(self, message: str, path: Path | str | None = None, **details: Any) -> None:
        super().__init__(message, **({"path": str(path)} if path is not None else {}), **details)
        self.path = Path(path) if path is not None else None


class CacheError(StorageError):
    code = "cache_error"


class JobStoreError(StorageError):
    code = "job_store_error"


# ---- corpus work: batch, export, watch (appended) --------------------------------------

class BadOutputFolder(BadRequest):
    """A batch output folder that is not a batch's (or cannot be written); names the folder."""

    code = "bad_output_folder"


class BadAliases(BadRequest):
    """A speaker aliases file that cannot be used; names the file and the entry."""

    code = "bad_aliases"


class ExportFailed(BadRequest):
    """An export that cannot be written as asked (e.g. more rows than an Excel sheet holds)."""

    code = "export_failed"


class MissingExtra(UsageError):
    """A format whose library is an optional extra that is not installed; says what to pip install."""

    code = "missing_extra"


# ---- scale-out: batches on a Dask cluster (appended) --------------------------------

class ClusterUnavailable(Unavailable):
    """A Dask scheduler that cannot be reached, has no workers, or went away; names its address."""

    code = "cluster_unavailable"


class WorkerMismatch(QualiaError):
    """A cluster worker whose plugins (ids, versions) differ from the client's: it would compute something else."""

    code = "worker_mismatch"


# ---- plugin authoring: the plugin index (appended) ------------------------------------

class InvalidPluginIndex(BadRequest):
    """The plugin index cannot be read or is not a plugin index; the message names it and the field."""

    code = "invalid_plugin_index"


class ServerUnreachable(Unavailable):
    """The CLI cannot reach the server it was pointed at (`qualia plugins reload --url ...`)."""

    code = "server_unreachable"


class InstallFailed(QualiaError):
    """pip could not install a plugin distribution (its output went to stderr)."""

    code = "install_failed"


# ---- the SDK's errors, placed in the tree --------------------------------------------

def translate(exc: BaseException) -> QualiaError | None:
    """The QualiaError for an error raised by the SDK (manifest, config, JSON-RPC), or None."""
    from qualia.plugin_sdk.errors import InvalidParams, RpcError
    from qualia.plugin_sdk.manifest import ConfigError, ManifestError

    if isinstance(exc, QualiaError):
        return exc
    if isinstance(exc, ConfigError):
        return InvalidConfig(str(exc), field=exc.key)
    if isinstance(exc, ManifestError):
        return InvalidManifest(str(exc), path=exc.path)
    if isinstance(exc, InvalidParams):
        return InvalidInput(exc.message)
    if isinstance(exc, RpcError):
        return PluginFault(exc.message, rpc_code=exc.code)
    return None


class InvalidManifest(CallerError):
    """A plugin.toml that cannot be used; the message names the file and the reason."""

    status = 422
    code = "invalid_manifest"


def error_table() -> list[tuple[int, type[QualiaError]]]:
    """(depth, class) for every error class in the tree, depth first, for the documentation.

    Classes defined outside this module (the pipeline's, ops' backups) appear once imported.
    """
    rows: list[tuple[int, type[QualiaError]]] = []

    def visit(cls: type[QualiaError], depth: int) -> None:
        rows.append((depth, cls))
        for sub in sorted(cls.__subclasses__(), key=lambda sub: sub.__name__):
            visit(sub, depth + 1)

    visit(QualiaError, 0)
    return rows
