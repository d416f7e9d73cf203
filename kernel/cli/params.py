"""`-P key=value`: text from the command line converted to a parameter's declared type.

Conversion goes through `msgspec.convert` (lax mode parses "12", "true", "0.5")
and failures read like the manifest validator's (`config key 'top_n': expected
integer, got 'abc'`), whichever door the value came in through.

`-P key=@path` reads the value from a file: a `.json` file is parsed as JSON
(a large `reference_frequencies` object, a list of speakers), any other file
is read as text (in any common encoding, as input files are) and converted
like a value typed on the command line, except that a list takes one item per
line and a string loses the file's final line break. `@@` starts a value that
is an at sign followed by text, not a file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import ConfigError, Manifest, Parameter

from ..errors import InvalidConfig, UsageError
from ..readers.encoding import NotText, decode_text

__all__ = ["convert_text", "parse_parameter", "read_value"]

_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                          "list": list, "object": dict}
FILE_MARK = "@"
SHOWN_CHARS = 200  # a bad value is quoted this far in the error: a whole file's value would bury the message


def parse_parameter(manifest: Manifest, assignment: str) -> tuple[str, Any]:
    """`key=value` or `key=@file` from `-P`, converted to the parameter's declared type."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UsageError(f"-P expects key=value or key=@file, got {assignment!r}")
    param = manifest.parameters.get(key)
    if param is None:
        return key, text  # validation names the unknown key with the known ones
    try:
        if text.startswith(FILE_MARK + FILE_MARK):
            return key, convert_text(key, param, text[1:])
        if text.startswith(FILE_MARK):
            return key, read_value(key, param, Path(text[1:]).expanduser())
        return key, convert_text(key, param, text)
    except ConfigError as exc:  # worded as the kernel's validation of the same value would be
        raise InvalidConfig(f"invalid config for plugin {manifest.id!r}: {exc}", plugin=manifest.id,
                            key=exc.key) from None


def read_value(key: str, param: Parameter, path: Path) -> Any:
    """The value of `key` read from `path`: JSON for a .json file, else text."""
    text = _read_text(key, path)
    if path.suffix.lower() == ".json":
        value = _parse_json(key, path, text)
        if param.type == "list" and isinstance(value, list):
            return _convert_items(key, param, value)
        return _convert(key, param.type, value)
    if param.type == "string":
        return _without_final_break(text)
    if param.type == "list" and not text.lstrip().startswith("["):
        return _convert_items(key, param, [line.strip() for line in text.splitlines() if line.strip()])
    return convert_text(key, param, text.strip())


def _read_text(key: str, path: Path) -> str:
    if not path.name:
        raise ConfigError(key, "-P key=@file needs a file name after @")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return decode_text(data).text
    except NotText as exc:
        raise ConfigError(key, f"{str(path)!r} is not text: {exc}") from None


def _parse_json(key: str, path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(key, f"invalid JSON in {str(path)!r} at line {exc.lineno}, column {exc.colno}: "
                               f"{exc.msg}") from None


def _without_final_break(text: str) -> str:
    """A file's text as a string value: editors end a file with a line break that is not part of the value."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def convert_text(key: str, param: Parameter, text: str) -> Any:
    """`text` as typed on the command line, converted to `param`'s type: a list or an object may be JSON, and a
    list may also be comma-separated ("a,b,c"), since that is what people type."""
    if param.type in ("list", "object"):
        if text.startswith(("[", "{")):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(key, f"invalid JSON: {exc}") from None
            return _convert(key, param.type, value)
        if param.type == "object":
            raise ConfigError(key, f"expected a JSON object, got {text!r}")
        return _convert_items(key, param, [item.strip() for item in text.split(",") if item.strip()])
    return _convert(key, param.type, text)


def _convert_items(key: str, param: Parameter, items: list[Any]) -> list[Any]:
    """Each item to the list's item type; an error names the item as `key[index]`."""
    return [_convert(f"{key}[{index}]", param.items or "string", item) for index, item in enumerate(items)]


def _convert(key: str, kind: str, value: Any) -> Any:
    try:
        return msgspec.convert(value, _TYPES[kind], strict=False)
    except msgspec.ValidationError:
        shown = repr(value) if len(repr(value)) <= SHOWN_CHARS else f"{repr(value)[:SHOWN_CHARS]}..."
        raise ConfigError(key, f"expected {kind}, got {type(value).__name__} {shown}") from None
