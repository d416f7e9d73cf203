"""Reading the artefacts a plugin receives in `inputs`, checked against a schema."""
from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from .errors import InputError

T = TypeVar("T")


def read_input(inputs: dict[str, Any], name: str, schema: type[T]) -> T:
    """The artefact `name` from `inputs` as `schema`; an InputError (-32602) naming what is wrong."""
    if name not in inputs:
        raise InputError(f"missing input {name!r}: run a plugin that provides it first", {"artefact": name})
    try:
        return msgspec.convert(inputs[name], schema)
    except msgspec.ValidationError as exc:
        where = str(exc).replace("`$", f"`{name}")
        raise InputError(f"input {name!r} is malformed: {where}", {"artefact": name}) from None
