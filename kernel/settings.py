"""Settings in layers: built-in default < the project's qualia.toml < `QUALIA_*` environment < CLI flag.

One table, `SOURCES`, says for every setting its key in qualia.toml, its
environment variable and its flag; `load_settings` reads the layers in that order
and records where each value came from (`Settings.origins`, printed by `qualia
config show`). Types and bounds are those of the project file's Struct
(kernel/project.py), so a value is checked the same way whichever door it came in
through, and an error names that door (the file and line, the variable, the flag).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, NamedTuple

import msgspec
from msgspec import UNSET, Meta

from qualia.plugin_sdk.archives import DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACKED_BYTES, ArchiveLimits
from qualia.plugin_sdk.manifest import Manifest

from .errors import InvalidSetting
from .project import Project, field_type, find_project, read_project, reason_for

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


class Origin(msgspec.Struct, frozen=True):
    """Where a setting's value came from: `where` is the file:line, the variable or the flag."""

    source: Literal["default", "file", "env", "flag", "layers"] = "default"  # layers: several add up
    where: str = ""

    def __str__(self) -> str:
        if self.source in ("env", "flag"):
            return f"{self.source} {self.where}"
        return self.where or self.source


class SettingSource(NamedTuple):
    field: str  # the Settings attribute
    key: str | None  # dotted key in qualia.toml; its declared type checks every layer's value
    env: str | None = None
    flag: str | None = None
    split: str | None = None  # a list in one environment variable: the separator
    path: bool = False  # a path, or a list of paths; relative ones in qualia.toml are relative to its folder
    kind: Any = None  # the type of a setting that is not in qualia.toml (key None)

    @property
    def name(self) -> str:
        """How `qualia config show` names it: its key in qualia.toml, else its variable."""
        return self.key or self.env or self.field

    @property
    def type(self) -> Any:
        return self.kind if self.key is None else field_type(self.key.split("."))


SOURCES: tuple[SettingSource, ...] = (
    SettingSource("home", "kernel.home", "QUALIA_HOME", "--home", path=True),
    SettingSource("plugin_path", "kernel.plugin_path", "QUALIA_PLUGIN_PATH", "--plugin-path", split=os.pathsep,
                  path=True),
    SettingSource("breaker_failures", "kernel.breaker_failures", "QUALIA_BREAKER_FAILURES", "--breaker-failures"),
    SettingSource("breaker_open_s", "kernel.breaker_open_s", "QUALIA_BREAKER_OPEN_S", "--breaker-open-s"),
    SettingSource("start_timeout_s", "kernel.start_timeout_s", "QUALIA_START_TIMEOUT_S"),
    SettingSource("cancel_grace_s", "kernel.cancel_grace_s", "QUALIA_CANCEL_GRACE_S"),
    SettingSource("queue_limit", "kernel.queue_limit", "QUALIA_QUEUE_LIMIT"),
    SettingSource("queue_timeout_s", "kernel.queue_timeout_s", "QUALIA_QUEUE_TIMEOUT_S"),
    SettingSource("cache_max_bytes", "kernel.cache_max_bytes", "QUALIA_CACHE_MAX_BYTES"),
    SettingSource("preload", "kernel.preload", "QUALIA_PRELOAD", split=","),
    SettingSource("cleaner", "kernel.cleaner", "QUALIA_CLEANER"),
    SettingSource("max_memory_mb", "kernel.max_memory_mb", "QUALIA_MAX_MEMORY_MB"),
    SettingSource("restart_limit", "kernel.restart_limit", "QUALIA_RESTART_LIMIT"),
    SettingSource("restart_window_s", "kernel.restart_window_s", "QUALIA_RESTART_WINDOW_S"),
    SettingSource("restart_stable_s", "kernel.restart_stable_s", "QUALIA_RESTART_STABLE_S"),
    # Plugins read these two from their (inherited) environment too, so they stay environment-only.
    SettingSource("max_unpacked_bytes", None, "QUALIA_MAX_UNPACKED_BYTES", kind=Annotated[int, Meta(ge=1)]),
    SettingSource("max_unpack_ratio", None, "QUALIA_MAX_UNPACK_RATIO", kind=Annotated[float, Meta(gt=0)]),
    SettingSource("language", "project.language", "QUALIA_LANGUAGE"),
    SettingSource("stopwords", "project.stopwords", "QUALIA_STOPWORDS", split=","),
    SettingSource("speaker_aliases", "aliases"),
    SettingSource("pipeline", "project.pipeline", "QUALIA_PIPELINE", "-f/--pipeline-file", path=True),
    SettingSource("output_dir", "project.output", "QUALIA_OUTPUT", "-o/--output-dir", path=True),
    SettingSource("data_dir", "project.data", path=True),
    SettingSource("plugins", "plugins"),
    SettingSource("cluster", "batch.cluster", "QUALIA_DASK_SCHEDULER", "--cluster"),
)
LAYERED = frozenset(source.field for source in SOURCES)

# Project settings a plugin receives as the default of its parameter of the same name and type, so one
# `language = "pt"` or one stopword list reaches every plugin that takes it (kernel.prepare_config).
SHARED_PARAMETERS: dict[str, str] = {"language": "string", "stopwords": "list", "speaker_aliases": "object"}


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
    # the project's (qualia.toml), each also settable from outside it
    language: str = "auto"
    stopwords: list[str] = []
    speaker_aliases: dict[str, str] = {}
    pipeline: Path | None = None  # run when a command gets no -f
    output_dir: Path = Path("out")
    data_dir: Path | None = None
    plugins: dict[str, dict[str, Any]] = {}  # plugin id -> default parameters
    cluster: str | None = None  # batches and the service's jobs on this Dask cluster (local:N | tcp://HOST:PORT)
    project: Path | None = None  # the folder whose qualia.toml was read
    origins: dict[str, Origin] = {}  # setting (or `plugins.ID.KEY`) -> where its value came from

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """The environment and keyword overrides (the flag layer, when not None); a project file only when
        QUALIA_PROJECT names one. `load_settings` also finds the project from the current folder."""
        flags = {key: value for key, value in overrides.items() if key in LAYERED}
        fixed = {key: value for key, value in overrides.items() if key not in LAYERED and value is not None}
        return load_settings(env, search=False, flags=flags, **fixed)

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

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, Origin())

    def plugin_defaults(self, manifest: Manifest) -> dict[str, Any]:
        """The project's defaults for a plugin's parameters: shared settings, then `[plugins.ID]`."""
        values: dict[str, Any] = {}
        for name, kind in SHARED_PARAMETERS.items():
            param, value = manifest.parameters.get(name), getattr(self, name)
            if param is None or param.type != kind or value in ("auto", [], {}):
                continue
            if param.choices is not None and value not in param.choices:
                continue
            values[name] = copy.deepcopy(value)
        values.update(copy.deepcopy(self.plugins.get(manifest.id, {})))
        return values

    def parameter_origin(self, plugin_id: str, key: str) -> Origin:
        return self.origins.get(f"plugins.{plugin_id}.{key}") or self.origin(key)


def load_settings(env: Mapping[str, str] | None = None, *, cwd: Path | None = None, project: Path | None = None,
                  search: bool = True, flags: Mapping[str, Any] | None = None, **fixed: Any) -> Settings:
    """Every layer: defaults, the project's qualia.toml, `QUALIA_*` variables, then `flags` (None: not given).

    The project is `project` (the --project flag), else QUALIA_PROJECT, else (with `search`) the nearest
    qualia.toml at or above `cwd`. `fixed` sets Settings fields that have no layers (tests, embedding).
    """
    env = os.environ if env is None else env
    flags = flags or {}
    unknown = sorted(set(flags) - LAYERED)
    if unknown:
        raise TypeError(f"not a layered setting: {unknown}")
    found, project_origin = _find_project(env, cwd, project, search)
    values: dict[str, Any] = {"home": Path.home() / ".qualia"}
    origins: dict[str, Origin] = {"project": project_origin} if found else {}
    for source in SOURCES:
        layers: list[tuple[Any, Origin]] = []
        if found is not None and source.key and (value := found.get(source.key)) is not UNSET:
            layers.append((_from_file(found, source, value), Origin("file", found.where(source.key))))
        raw = env.get(source.env, "") if source.env else ""
        if raw.strip():
            layers.append((_from_env(source, raw), Origin("env", source.env)))  # type: ignore[arg-type]
        given = flags.get(source.field)
        if given is not None and given != []:
            layers.append((_from_flag(source, given), Origin("flag", source.flag or source.field)))
        if not layers:
            continue
        if source.field == "plugin_path":  # folders add up: the flag's are searched first, then env, then file
            values[source.field] = [path for value, _ in reversed(layers) for path in value]
            origins[source.field] = (layers[0][1] if len(layers) == 1 else
                                     Origin("layers", " + ".join(str(o) for _, o in reversed(layers))))
        else:
            values[source.field], origins[source.field] = layers[-1]
    if found is not None:
        for plugin_id, params in found.settings.plugins.items():
            origins[f"plugins.{plugin_id}"] = Origin("file", found.where(f"plugins.{plugin_id}"))
            for key in params:
                origins[f"plugins.{plugin_id}.{key}"] = Origin("file", found.where(f"plugins.{plugin_id}.{key}"))
    return Settings(**values, **fixed, project=found.root if found else None, origins=origins)


def _find_project(env: Mapping[str, str], cwd: Path | None, project: Path | None,
                  search: bool) -> tuple[Project | None, Origin]:
    if project is not None:
        return _read_named(project, "--project"), Origin("flag", "--project")
    named = env.get("QUALIA_PROJECT", "").strip()
    if named:
        return _read_named(Path(named), "QUALIA_PROJECT"), Origin("env", "QUALIA_PROJECT")
    if not search:
        return None, Origin()
    start = cwd or Path.cwd()
    root = find_project(start)
    return (read_project(root) if root else None), Origin("default", f"found from {start}")


def _read_named(path: Path, door: str) -> Project:
    if not path.exists():
        raise InvalidSetting(f"{door} {path}: no such folder", setting=door)
    return read_project(path)


def _check(source: SettingSource, value: Any, door: str) -> Any:
    kind = source.type
    try:
        return msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidSetting(f"{door}: {reason_for(kind, str(exc).split(' - at ')[0])}", setting=source.field) \
            from None


def _as_paths(source: SettingSource, value: Any, base: Project | None = None) -> Any:
    if not source.path:
        return value

    def one(text: str) -> Path:
        return base.resolve(text) if base is not None else Path(text)

    return [one(item) for item in value] if isinstance(value, list) else one(value)


def _from_file(project: Project, source: SettingSource, value: Any) -> Any:
    return _as_paths(source, value, project)


def _from_env(source: SettingSource, raw: str) -> Any:
    text: Any = [item.strip() for item in raw.split(source.split) if item.strip()] if source.split else raw.strip()
    return _as_paths(source, _check(source, text, f"environment variable {source.env}={raw!r}"))


def _from_flag(source: SettingSource, given: Any) -> Any:
    plain = [str(item) for item in given] if isinstance(given, list) else str(given) if source.path else given
    return _as_paths(source, _check(source, plain, f"{source.flag} {given}"))
