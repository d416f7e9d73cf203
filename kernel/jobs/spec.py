"""What a job runs: a pipeline or one plugin (dependencies resolved) over one or many documents.

`parse_job_request` turns a request body (POST /jobs, a custom webhook) into a
`JobSpec`; `plan_job` checks it against the kernel's plugins before it is
accepted, and again when it runs (plugins may have changed after a restart).
The spec is what the store keeps as the job's payload.
"""
from __future__ import annotations

from typing import Any, Literal

import msgspec
from yarl import URL

from qualia.plugin_sdk.document import Document

from ..errors import InvalidRequest, UnknownPlugin
from ..pipeline import PipelineSpec, PlannedStep, parse_pipeline, plan_for_target, plan_pipeline
from ..readers import text_document
from .destinations import check_literal

__all__ = ["JobRequest", "JobSpec", "check_callback_url", "job_spec", "parse_documents", "parse_job_request",
           "plan_job"]

MAX_DELIVERY_ID = 200


class JobSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: Literal["pipeline", "plugin"]
    documents: list[Document]
    pipeline: PipelineSpec | None = None
    plugin: str | None = None
    config: dict[str, Any] = {}

    @property
    def target(self) -> str:
        """The plugin id, or the pipeline's name."""
        if self.kind == "plugin":
            assert self.plugin is not None
            return self.plugin
        assert self.pipeline is not None
        return self.pipeline.name


class JobRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body: `pipeline` or `plugin` (+ `config`), and `documents`, `document` or `text`."""

    pipeline: Any = None
    plugin: str | None = None
    config: dict[str, Any] | None = None
    documents: list[Any] | None = None
    document: Any = None
    text: str | None = None
    callback_url: str | None = None
    delivery_id: str | None = None


def parse_job_request(raw: Any, *, max_documents: int, allow_private_callbacks: bool = False
                      ) -> tuple[JobSpec, JobRequest]:
    """Check the shape of a decoded request body; errors are 422 naming the field (`$.path`)."""
    if not isinstance(raw, dict):
        raise InvalidRequest("the request body must be a JSON object", field="$")
    try:
        request = msgspec.convert(raw, JobRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid request body: {exc}", field=_field(exc)) from None
    return job_spec(request, max_documents=max_documents, allow_private_callbacks=allow_private_callbacks), request


def job_spec(request: JobRequest, *, max_documents: int, allow_private_callbacks: bool = False) -> JobSpec:
    """The JobSpec of a request whose JSON types are already checked.

    A `callback_url` whose host is an address in a refused range (loopback,
    private, ...) is refused here unless `allow_private_callbacks`; a name is
    checked when the callback is delivered (`destinations.py`).
    """
    if (request.pipeline is None) == (request.plugin is None):
        raise InvalidRequest("give exactly one of 'pipeline' (an inline spec with 'steps') or 'plugin' (an id)",
                             field="$.pipeline" if request.pipeline is not None else "$.plugin")
    documents = parse_documents(request, max_documents=max_documents)
    if request.callback_url is not None:
        check_callback_url(request.callback_url, allow_private=allow_private_callbacks)
    if request.delivery_id is not None and not 0 < len(request.delivery_id) <= MAX_DELIVERY_ID:
        raise InvalidRequest(f"'delivery_id' must be 1 to {MAX_DELIVERY_ID} characters", field="$.delivery_id")
    if request.pipeline is not None:
        if request.config is not None:
            raise InvalidRequest("'config' goes with 'plugin'; a pipeline's config belongs in each step",
                                 field="$.config")
        spec = parse_pipeline(request.pipeline, source="pipeline")
        return JobSpec(kind="pipeline", pipeline=spec, documents=documents)
    return JobSpec(kind="plugin", plugin=request.plugin, config=request.config or {}, documents=documents)


def _field(exc: msgspec.ValidationError) -> str:
    """The `$.path` a validation message names (`$` if none)."""
    text = str(exc)
    marker = " - at `"
    if marker in text and text.endswith("`"):
        return text[text.rindex(marker) + len(marker):-1]
    if text.startswith("Object contains unknown field `"):
        return "$." + text.split("`")[1]
    return "$"


def parse_documents(request: JobRequest, *, max_documents: int) -> list[Document]:
    given = [name for name in ("documents", "document", "text") if getattr(request, name) is not None]
    if len(given) != 1:
        raise InvalidRequest("give exactly one of 'documents' (a list), 'document' (an object) or 'text'",
                             field=f"$.{given[1]}" if len(given) > 1 else "$.text")
    if request.text is not None:
        return [text_document(request.text)]
    if request.document is not None:
        return [_document(request.document, "$.document")]
    assert request.documents is not None
    if not request.documents:
        raise InvalidRequest("'documents' is empty", field="$.documents")
    if len(request.documents) > max_documents:
        raise InvalidRequest(f"too many documents: {len(request.documents)} > {max_documents} per job",
                             field="$.documents", limit=max_documents)
    return [_item(item, f"$.documents[{index}]") for index, item in enumerate(request.documents)]


def _item(item: Any, path: str) -> Document:
    """A `documents` entry: a string, {"text": …, "id"?, …}, or {"document": {…}}."""
    if isinstance(item, str):
        return text_document(item)
    if isinstance(item, dict) and "document" in item:
        if len(item) != 1:
            raise InvalidRequest(f"{path}: an entry with 'document' has no other keys", field=path)
        return _document(item["document"], f"{path}.document")
    return _document(item, path)


def _document(raw: Any, path: str) -> Document:
    try:
        return msgspec.convert(raw, Document)
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`$", "`" + path, 1) if "`$" in str(exc) else f"{exc} - at `{path}`"
        field = _field(msgspec.ValidationError(message))
        raise InvalidRequest(f"invalid document: {message}", field=field) from None


def check_callback_url(url: str, *, allow_private: bool = False) -> None:
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRequest(f"'callback_url' must be an absolute http(s) URL, got {url!r}", field="$.callback_url")
    if not allow_private:
        problem = check_literal(parsed.host)
        if problem is not None:
            raise InvalidRequest(f"'callback_url' cannot be used: {problem}", field="$.callback_url")


def plan_job(kernel: Any, spec: JobSpec) -> list[PlannedStep]:
    """Plan every step (plugins known, configs valid, inputs provided); 422 errors name the step or key."""
    if spec.kind == "pipeline":
        assert spec.pipeline is not None
        return plan_pipeline(kernel, spec.pipeline)
    assert spec.plugin is not None
    try:
        return plan_for_target(kernel, spec.plugin, spec.config)
    except UnknownPlugin as exc:  # a body naming an unknown plugin is unusable, not a missing URL
        raise InvalidRequest(exc.message, **exc.details) from None
