"""Open ZIP containers (.docx, .xlsx, ...) without letting a zip bomb inflate in memory.

A 1 MB .docx whose `word/document.xml` inflates to 1 GiB drove a plugin to
2.2 GB before it failed. `check_archive` refuses such a file before any parser
sees it: first from the sizes the archive declares, then by inflating every
member through a bounded stream (the declared sizes are the attacker's to
write, the actual ones are not). The kernel's file readers and the bundled
plugins call it alike, with the limits of `ArchiveLimits.from_env()`:

| variable | default | meaning |
| --- | --- | --- |
| `QUALIA_MAX_UNPACKED_BYTES` | 128 MiB | total uncompressed size of all members |
| `QUALIA_MAX_UNPACK_RATIO` | 100 | uncompressed / compressed size of any member larger than 1 MiB |

Plugins inherit the kernel's environment, so one setting bounds both sides.
"""
from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Mapping

__all__ = ["ArchiveError", "ArchiveLimits", "ArchiveTooLarge", "check_archive"]

DEFAULT_MAX_UNPACKED_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_UNPACK_RATIO = 100.0
RATIO_FLOOR_BYTES = 1024 * 1024  # small members may compress as well as they like
_CHUNK = 1 << 20


class ArchiveError(Exception):
    """The bytes are not a readable ZIP archive."""


class ArchiveTooLarge(ArchiveError):
    """The archive would inflate beyond the limits (a zip bomb, or simply too big)."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_ratio: float = DEFAULT_MAX_UNPACK_RATIO

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ArchiveLimits":
        env = os.environ if env is None else env
        values: dict[str, float | int] = {}
        for field, name, kind in (("max_unpacked_bytes", "QUALIA_MAX_UNPACKED_BYTES", int),
                                  ("max_ratio", "QUALIA_MAX_UNPACK_RATIO", float)):
            text = env.get(name, "").strip()
            if text:
                try:
                    value = kind(text)
                except ValueError:
                    raise ValueError(f"environment variable {name}={text!r} is not a valid {kind.__name__}") from None
                if not value > 0:
                    raise ValueError(f"environment variable {name} must be > 0, got {text!r}")
                values[field] = value
        return cls(**values)  # type: ignore[arg-type]


def _too_large(label: str, what: str, limits: ArchiveLimits) -> ArchiveTooLarge:
    return ArchiveTooLarge(f"{label} {what}; refused as a possible zip bomb (limits: "
                           f"{limits.max_unpacked_bytes} bytes unpacked, QUALIA_MAX_UNPACKED_BYTES; ratio "
                           f"{limits.max_ratio:g}:1, QUALIA_MAX_UNPACK_RATIO)")


def check_archive(data: bytes, label: str = "the archive", limits: ArchiveLimits | None = None) -> list[str]:
    """The member names of the ZIP in `data`, once its declared and actual sizes are within `limits`.

    Raises ArchiveTooLarge (too big, or too compressed) or ArchiveError (not a readable ZIP: bad
    structure, a CRC mismatch, an encrypted member). Inflating is streamed, so memory stays flat.
    """
    limits = limits or ArchiveLimits.from_env()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArchiveError(f"{label} is not a readable ZIP archive: {exc}") from None
    with archive:
        members = archive.infolist()
        declared = sum(info.file_size for info in members)
        if declared > limits.max_unpacked_bytes:
            raise _too_large(label, f"declares {declared} bytes unpacked", limits)
        for info in members:
            _check_ratio(info, info.file_size, label, limits)
        total = 0
        for info in members:
            size = 0
            try:
                with archive.open(info) as stream:
                    while chunk := stream.read(_CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if total > limits.max_unpacked_bytes:
                            raise _too_large(label, f"inflates beyond {limits.max_unpacked_bytes} bytes", limits)
                        _check_ratio(info, size, label, limits)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError,
                    zlib.error) as exc:  # RuntimeError: an encrypted member; the rest: a corrupt stream
                raise ArchiveError(f"{label}: member {info.filename!r} cannot be read: {exc}") from None
        return [info.filename for info in members]


def _check_ratio(info: zipfile.ZipInfo, size: int, label: str, limits: ArchiveLimits) -> None:
    if size > RATIO_FLOOR_BYTES and size > limits.max_ratio * max(info.compress_size, 1):
        raise _too_large(label, f"member {info.filename!r} inflates more than {limits.max_ratio:g}:1 "
                                f"({info.compress_size} bytes packed, {size}+ unpacked)", limits)
