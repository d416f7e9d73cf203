"""`plugin.toml`: the manifest of a plugin, and the config schema it declares.

Both the kernel (discovery, validation before a request is sent) and the SDK
(defaults inside the plugin, testing helpers) read manifests through here.
"""
from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

PluginKind = Literal["analyzer", "document", "visualizer"]
ParameterType = Literal["string", "integer", "number", "boolean", "list", "object"]
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SUPPORTED_APIS = ("qualia/1",)
"""Contracts this SDK and kernel speak; a manifest's `api` must name one of them."""
FORMAT_MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml", "html": "text/html; charset=utf-8"}


class ManifestError(Exception):
    """A plugin.toml that cannot be used; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ConfigError(Exception):
    """A config value that does not match the schema; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key {key!r}: {message}")
        self.key = key
        self.message = message


class Parameter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: ParameterType
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    items: ParameterType | None = None  # element type of a list
    description: str = ""


class Manifest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    version: str
    kind: PluginKind
    command: list[str]
    description: str = ""
    provides: list[str] = []
    requires: list[str] = []
    formats: list[Literal["png", "svg", "html"]] = []
    timeout_s: float = 30.0
    concurrency: int = 1
    # Memory ceiling of the plugin's process in MiB; None: the kernel's default (QUALIA_MAX_MEMORY_MB).
    max_memory_mb: int | None = None
    parameters: dict[str, Parameter] = {}
    api: str = "qualia/1"  # the contract the plugin speaks; manifests without it speak qualia/1
    kernel: str = ""  # optional PEP 440 range of kernel versions, e.g. ">=0.1,<1"; checked by the kernel
    # Set by the loader, not by the file: where the plugin lives.
    path: str = ""

    def defaults(self) -> dict[str, Any]:
        # Copies: a plugin that mutates its config must not change the defaults of later runs.
        return {k: copy.deepcopy(p.default) for k, p in self.parameters.items() if p.default is not None}


def load_manifest(path: Path) -> Manifest:
    """Read and check one plugin.toml; raise ManifestError naming what is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(path, f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, f"invalid TOML: {exc}") from None
    raw.pop("path", None)
    if isinstance(raw.get("parameters"), dict):
        # Checked one by one first: msgspec writes a bad dict value's location as `$.parameters[...]`.
        for key, table in raw["parameters"].items():
            try:
                msgspec.convert(table, Parameter)
            except msgspec.ValidationError as exc:
                raise ManifestError(path, f"parameter {key!r}: {exc}") from None
    try:
        manifest = msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise ManifestError(path, str(exc)) from None
    if not ID_PATTERN.match(manifest.id):
        raise ManifestError(path, f"id {manifest.id!r} must match {ID_PATTERN.pattern}")
    if not manifest.command:
        raise ManifestError(path, "command must not be empty")
    if manifest.timeout_s <= 0:
        raise ManifestError(path, "timeout_s must be > 0")
    if manifest.concurrency < 1:
        raise ManifestError(path, "concurrency must be >= 1")
    if manifest.max_memory_mb is not None and manifest.max_memory_mb < 1:
        raise ManifestError(path, f"max_memory_mb must be >= 1 (MiB), got {manifest.max_memory_mb}")
    if manifest.kind == "visualizer" and not manifest.formats:
        raise ManifestError(path, "a visualizer must list its formats")
    if manifest.api not in SUPPORTED_APIS:
        raise ManifestError(path, f"api {manifest.api!r} is not supported: this kernel speaks "
                                  f"{', '.join(SUPPORTED_APIS)}")
    if "format" in manifest.parameters:
        raise ManifestError(path, "parameter 'format' is reserved for visualizers")
    for key, param in manifest.parameters.items():
        if param.default is not None:
            try:
                check_value(key, param, param.default)
            except ConfigError as exc:
                raise ManifestError(path, f"default of parameter {key!r}: {exc.message}") from None
    manifest.path = str(path.parent.resolve())
    return manifest


def validate_config(manifest: Manifest, config: dict[str, Any]) -> dict[str, Any]:
    """Return the full config (defaults filled in) or raise ConfigError naming the key.

    Visualizers take the reserved key `format`, one of the manifest's formats.
    """
    if not isinstance(config, dict):
        raise ConfigError("config", "must be an object")
    full = manifest.defaults()
    for key, value in config.items():
        if key == "format" and manifest.kind == "visualizer":
            if value not in manifest.formats:
                raise ConfigError(key, f"must be one of {manifest.formats}, got {value!r}")
            full[key] = value
            continue
        param = manifest.parameters.get(key)
        if param is None:
            known = ", ".join(sorted(manifest.parameters)) or "none"
            raise ConfigError(key, f"unknown parameter for plugin {manifest.id!r} (known: {known})")
        full[key] = check_value(key, param, value)
    if manifest.kind == "visualizer":
        full.setdefault("format", manifest.formats[0])
    return full


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    return isinstance(value, dict)


def check_value(key: str, param: Parameter, value: Any) -> Any:
    if not _type_ok(param.type, value):
        raise ConfigError(key, f"expected {param.type}, got {type(value).__name__} {value!r}")
    if param.type == "list" and param.items is not None:
        for index, item in enumerate(value):
            if not _type_ok(param.items, item):
                raise ConfigError(f"{key}[{index}]", f"expected {param.items}, got {item!r}")
    if param.min is not None and param.type in ("integer", "number") and value < param.min:
        raise ConfigError(key, f"must be >= {param.min:g}, got {value!r}")
    if param.max is not None and param.type in ("integer", "number") and value > param.max:
        raise ConfigError(key, f"must be <= {param.max:g}, got {value!r}")
    if param.choices is not None:
        members = value if param.type == "list" else [value]
        for member in members:
            if member not in param.choices:
                raise ConfigError(key, f"must be one of {param.choices}, got {member!r}")
    return value
