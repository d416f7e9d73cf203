"""`-P key=value`: text from the command line converted to a parameter's declared type.

Conversion goes through `msgspec.convert` (lax mode parses "12", "true", "0.5")
and failures read like the manifest validator's (`config key 'top_n': expected
integer, got 'abc'`), whichever door the value came in through.
"""
from __future__ import annotations

import json
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import ConfigError, Manifest, Parameter

from ..errors import InvalidConfig, UsageError

_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                          "list": list, "object": dict}


def parse_parameter(manifest: Manifest, assignment: str) -> tuple[str, Any]:
    """`key=value` from `-P`, converted to the parameter's declared type."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UsageError(f"-P expects key=value, got {assignment!r}")
    param = manifest.parameters.get(key)
    if param is None:
        return key, text  # validation names the unknown key with the known ones
    try:
        return key, convert_text(key, param, text)
    except ConfigError as exc:  # worded as the kernel's validation of the same value would be
        raise InvalidConfig(f"invalid config for plugin {manifest.id!r}: {exc}", plugin=manifest.id,
                            key=exc.key) from None


def convert_text(key: str, param: Parameter, text: str) -> Any:
    if param.type in ("list", "object"):
        if text.startswith(("[", "{")):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(key, f"invalid JSON: {exc}") from None
            return _convert(key, param.type, value)
        if param.type == "object":
            raise ConfigError(key, f"expected a JSON object, got {text!r}")
        items = [item.strip() for item in text.split(",") if item.strip()]
        return [_convert(f"{key}[{index}]", param.items or "string", item) for index, item in enumerate(items)]
    return _convert(key, param.type, text)


def _convert(key: str, kind: str, value: Any) -> Any:
    try:
        return msgspec.convert(value, _TYPES[kind], strict=False)
    except msgspec.ValidationError:
        raise ConfigError(key, f"expected {kind}, got {type(value).__name__} {value!r}") from None
