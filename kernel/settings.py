"""Kernel settings: environment variables `QUALIA_*`, overridable by CLI flags."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import msgspec

from qualia.plugin_sdk.archives import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES, ArchiveLimits

EnvTable = dict[str, tuple[str, type]]  # field -> (variable, int | float)


def read_env_numbers(env: Mapping[str, str], table: EnvTable) -> dict[str, object]:
    """The numeric variables of `table` that are set in `env`; a bad value names its variable."""
    values: dict[str, object] = {}
    for field, (name, kind) in table.items():
        if env.get(name):
            try:
                values[field] = kind(env[name])
            except ValueError:
                raise ValueError(f"environment variable {name}={env[name]!r} is not a valid {kind.__name__}") from None
    return values


class Settings(msgspec.Struct, kw_only=True):
    home: Path
    plugin_path: list[Path] = []
    breaker_failures: int = 5
    breaker_open_s: float = 300.0
    start_timeout_s: float = 10.0
    cancel_grace_s: float = 2.0
    stop_grace_s: float = 2.0
    queue_limit: int = 64  # callers allowed to wait for a busy plugin
    queue_timeout_s: float = 30.0
    cache_max_bytes: int = 256 * 1024 * 1024
    use_entry_points: bool = True
    preload: list[str] = []  # plugin ids started with the kernel; ["all"] for every plugin
    plugin_concurrency: int | None = None  # processes per plugin for this run (batch --workers); None: manifests'
    cleaner: str | None = None  # the transcript cleaner (a plugin providing `segments`); None: chosen by provides
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES  # a .docx (any ZIP) may inflate to this much in all
    max_unpack_ratio: float = DEFAULT_MAX_UNPACK_RATIO  # ... and no large member more than this many times
    max_memory_mb: int = 2048  # ceiling of a plugin process without `max_memory_mb` in its manifest; 0: none
    restart_limit: int = 10  # restarts of one plugin allowed within restart_window_s before its breaker opens
    restart_window_s: float = 60.0
    restart_stable_s: float = 30.0  # a process alive this long resets the restart backoff

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Read `QUALIA_*` variables; keyword overrides (from CLI flags) win when not None."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "home": Path(env.get("QUALIA_HOME") or Path.home() / ".qualia"),
            "plugin_path": [Path(p) for p in env.get("QUALIA_PLUGIN_PATH", "").split(os.pathsep) if p],
            "preload": [item.strip() for item in env.get("QUALIA_PRELOAD", "").split(",") if item.strip()],
            "cleaner": env.get("QUALIA_CLEANER", "").strip() or None,
        }
        values |= read_env_numbers(env, {
            "breaker_failures": ("QUALIA_BREAKER_FAILURES", int),
            "breaker_open_s": ("QUALIA_BREAKER_OPEN_S", float),
            "start_timeout_s": ("QUALIA_START_TIMEOUT_S", float),
            "cancel_grace_s": ("QUALIA_CANCEL_GRACE_S", float),
            "queue_limit": ("QUALIA_QUEUE_LIMIT", int),
            "queue_timeout_s": ("QUALIA_QUEUE_TIMEOUT_S", float),
            "cache_max_bytes": ("QUALIA_CACHE_MAX_BYTES", int),
            "max_unpacked_bytes": ("QUALIA_MAX_UNPACKED_BYTES", int),
            "max_unpack_ratio": ("QUALIA_MAX_UNPACK_RATIO", float),
            "max_memory_mb": ("QUALIA_MAX_MEMORY_MB", int),
            "restart_limit": ("QUALIA_RESTART_LIMIT", int),
            "restart_window_s": ("QUALIA_RESTART_WINDOW_S", float),
            "restart_stable_s": ("QUALIA_RESTART_STABLE_S", float),
        })
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.breaker_failures < 1:
            raise ValueError("QUALIA_BREAKER_FAILURES must be >= 1")
        if not settings.breaker_open_s >= 0:  # also rejects nan
            raise ValueError("QUALIA_BREAKER_OPEN_S must be >= 0")
        if settings.max_unpacked_bytes < 1 or not settings.max_unpack_ratio > 0:
            raise ValueError("QUALIA_MAX_UNPACKED_BYTES and QUALIA_MAX_UNPACK_RATIO must be > 0")
        if settings.max_memory_mb < 0:
            raise ValueError("QUALIA_MAX_MEMORY_MB must be >= 0 (0: no default ceiling)")
        if settings.restart_limit < 1:
            raise ValueError("QUALIA_RESTART_LIMIT must be >= 1")
        if not settings.restart_window_s > 0 or not settings.restart_stable_s >= 0:
            raise ValueError("QUALIA_RESTART_WINDOW_S must be > 0 and QUALIA_RESTART_STABLE_S >= 0")
        return settings

    def concurrency_for(self, declared: int) -> int:
        """How many processes a plugin that declares `declared` keeps in this run."""
        return self.plugin_concurrency if self.plugin_concurrency is not None else declared

    @property
    def archive_limits(self) -> ArchiveLimits:
        """Bounds for opening a .docx; plugins read the same variables (they inherit the environment)."""
        return ArchiveLimits(max_unpacked_bytes=self.max_unpacked_bytes, max_ratio=self.max_unpack_ratio)

    @property
    def cache_path(self) -> Path:
        return self.home / "cache.sqlite3"
