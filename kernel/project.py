"""A Qualia project: a folder with `qualia.toml`, found from any folder below it, like git.

The file is one layer of the settings (kernel/settings.py: default < qualia.toml <
QUALIA_* environment < flag). It is decoded straight into the `ProjectFile`
Struct, so a typo or a wrong type fails here with the key, the file and its line,
and the closest known key as a suggestion. `init_project` makes a new project
from the templates shipped in the package (`kernel/templates/`).
"""
from __future__ import annotations

import difflib
import re
import string
import tomllib
from types import UnionType
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .errors import InvalidSetting, UsageError

PROJECT_FILE = "qualia.toml"
DEFAULT_PIPELINE = "pipelines/transcript.toml"
FOLDERS = ("pipelines", "data", "out")

Language = Literal["auto", "pt", "en"]
AtLeastOne = Annotated[int, Meta(ge=1)]
Count = Annotated[int, Meta(ge=0)]
Seconds = Annotated[float, Meta(ge=0)]
PositiveSeconds = Annotated[float, Meta(gt=0)]
# Where batches and the service's jobs run (`--cluster`); dask_executor.parse_cluster reads it.
ClusterAddress = Annotated[str, Meta(
    pattern=r"^(local:0*[1-9][0-9]*|(tcp|tls|ws|wss)://\S+)$",
    description="local:N (N worker processes here, at least 1 worker) or the address of a Dask scheduler, "
                "tcp://HOST:PORT")]


class ProjectSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[project]`: what a researcher sets for a study; relative paths are relative to the project folder."""

    language: Language | UnsetType = UNSET
    stopwords: list[str] | UnsetType = UNSET
    pipeline: str | UnsetType = UNSET
    output: str | UnsetType = UNSET
    data: str | UnsetType = UNSET


class KernelSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[kernel]`: the engine, the same settings as the QUALIA_* variables."""

    home: str | UnsetType = UNSET
    plugin_path: list[str] | UnsetType = UNSET
    breaker_failures: AtLeastOne | UnsetType = UNSET
    breaker_open_s: Seconds | UnsetType = UNSET
    start_timeout_s: PositiveSeconds | UnsetType = UNSET
    cancel_grace_s: Seconds | UnsetType = UNSET
    queue_limit: Count | UnsetType = UNSET
    queue_timeout_s: Seconds | UnsetType = UNSET
    cache_max_bytes: Count | UnsetType = UNSET
    preload: list[str] | UnsetType = UNSET
    cleaner: str | UnsetType = UNSET
    max_memory_mb: Count | UnsetType = UNSET  # 0: no ceiling
    restart_limit: AtLeastOne | UnsetType = UNSET
    restart_window_s: PositiveSeconds | UnsetType = UNSET
    restart_stable_s: Seconds | UnsetType = UNSET


class BatchSection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[batch]`: where corpus work runs (`qualia batch`, `watch`, the service's jobs)."""

    cluster: ClusterAddress | UnsetType = UNSET  # a Dask cluster instead of this machine's processes


class ProjectFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    project: ProjectSection = msgspec.field(default_factory=ProjectSection)
    aliases: dict[str, str] | UnsetType = UNSET  # speaker name as written -> canonical name
    plugins: dict[str, dict[str, Any]] = {}  # plugin id -> default parameters
    kernel: KernelSection = msgspec.field(default_factory=KernelSection)
    batch: BatchSection = msgspec.field(default_factory=BatchSection)


class ProjectFileError(InvalidSetting):
    """A qualia.toml that cannot be used; the message names the file, the line and the key."""

    code = "invalid_project_file"


@dataclass(frozen=True)
class Project:
    root: Path  # the folder holding qualia.toml
    settings: ProjectFile
    text: str  # the file as read, to say on which line a key is

    @property
    def path(self) -> Path:
        return self.root / PROJECT_FILE

    def get(self, key: str) -> Any:
        """The value at a dotted key (`kernel.home`, `aliases`), or UNSET when the file does not set it."""
        value: Any = self.settings
        for part in key.split("."):
            value = value.get(part, UNSET) if isinstance(value, dict) else getattr(value, part, UNSET)
            if value is UNSET:
                return UNSET
        return value

    def where(self, key: str) -> str:
        """`path:line` of a key, or the path when the line cannot be told."""
        line = locate_key(self.text, key.split("."))
        return f"{self.path}:{line}" if line else str(self.path)

    def resolve(self, value: str) -> Path:
        """A path written in the file: relative to the project folder, `~` expanded."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path


def find_project(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a qualia.toml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def read_project(root: Path) -> Project:
    """Read and validate `root/qualia.toml` (or the file itself when `root` names it)."""
    if root.name == PROJECT_FILE and not root.is_dir():
        root = root.parent
    path = root / PROJECT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(f"{root}: no {PROJECT_FILE} there (create one with `qualia init {root}`)",
                               path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProjectFileError(f"cannot read {path}: {reason}", path=str(path)) from None
    return Project(root=root.resolve(), settings=parse_project(text, path), text=text)


def parse_project(text: str, path: Path) -> ProjectFile:
    try:
        return msgspec.toml.decode(text, type=ProjectFile)
    except msgspec.ValidationError as exc:
        raise file_error(path, text, str(exc)) from None
    except msgspec.DecodeError as exc:  # TOML syntax; tomllib's message says the line and column
        raise ProjectFileError(f"{path}: not valid TOML: {exc}", path=str(path)) from None


_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]+)`")


def file_error(path: Path, text: str, message: str) -> ProjectFileError:
    """A msgspec validation message, said in terms of the file: line, dotted key, suggestion."""
    match = _AT.match(message)
    assert match is not None
    reason, where = match["reason"], match["where"] or ""
    parts = path_parts(where, text)
    unknown = _UNKNOWN.match(reason)
    if unknown:
        name = unknown["name"]
        key = ".".join([*parts, name])
        known = known_keys(parts)
        hint = suggestion(name, known)
        text_reason = f"unknown key {key!r}" + (f"; did you mean {'.'.join([*parts, hint])!r}?" if hint else
                                                 f"; known keys here: {', '.join(known)}")
        parts.append(name)
    else:
        key = ".".join(parts)
        said = reason_for(field_type(parts), reason)
        text_reason = f"{key}: {said}" if key else said
    line = locate_key(text, parts)
    return ProjectFileError(f"{path}{f':{line}' if line else ''}: {text_reason}", path=str(path), line=line,
                            key=".".join(parts))


def path_parts(where: str, text: str) -> list[str]:
    """`.plugins[...].top_n` as keys; msgspec writes `[...]` for a table key, found again here."""
    parts: list[str] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", where):
        if name:
            parts.append(name)
        elif index == "...":
            key = bad_table_key(tomllib.loads(text), parts)
            if key is None:
                break
            parts.append(key)
    return parts


def bad_table_key(raw: dict[str, Any], parts: list[str]) -> str | None:
    """The first key of the free table at `parts` whose value does not have the table's value type."""
    table: Any = raw
    for part in parts:
        table = table.get(part, {}) if isinstance(table, dict) else {}
    kind = field_type(parts)
    value_type = get_args(kind)[1] if get_origin(kind) is dict and len(get_args(kind)) == 2 else None
    if value_type is None or not isinstance(table, dict):
        return None
    for key, value in table.items():
        try:
            msgspec.convert(value, value_type)
        except msgspec.ValidationError:
            return str(key)
    return None


def plain(reason: str) -> str:
    """msgspec's 'Expected `int` >= 1' as 'expected int >= 1'."""
    reason = reason.replace("`", "").replace(" | null", "")
    return reason[:1].lower() + reason[1:]


def field_type(parts: list[str]) -> Any:
    """The declared type at a path of the file (without UNSET), or None below a free table."""
    kind: Any = ProjectFile
    for part in parts:
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            return None
        fields = {f.name: f for f in msgspec.structs.fields(kind)}
        if part not in fields:
            return None
        kind = fields[part].type
        union = get_origin(kind) in (Union, UnionType)
        members = [arg for arg in get_args(kind) if arg is not UnsetType] if union else []
        if members:
            kind = members[0] if len(members) == 1 else Union[tuple(members)]
    return kind


def known_keys(parts: list[str]) -> list[str]:
    """The field names of the Struct found at a path of the file (empty for free tables)."""
    kind = field_type(parts)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return [f.name for f in msgspec.structs.fields(kind)]
    return []


def reason_for(kind: Any, reason: str) -> str:
    """msgspec's message for a value of `kind`, in plain words ('must be one of auto, pt, en')."""
    inner = get_args(kind)[0] if get_origin(kind) is Annotated else kind
    if get_origin(inner) is Literal and "enum" in reason:
        return f"must be one of {', '.join(map(str, get_args(inner)))}"
    if get_origin(kind) is Annotated and "regex" in reason:  # a pattern says what it wants in its description
        described = [meta.description for meta in get_args(kind)[1:] if isinstance(meta, Meta) and meta.description]
        if described:
            return f"expected {described[0]}"
    return plain(reason)


def suggestion(name: str, known: list[str]) -> str | None:
    """The known name closest to a misspelt one, if any is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*(?P<key>{_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _split_key(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)]


def locate_key(text: str, parts: list[str]) -> int | None:
    """The line (1-based) where a dotted key is written: exact, else the line of its nearest written parent.

    tomllib keeps no positions; this reads headers (`[a.b]`) and `key =` lines, which is how people write
    qualia.toml. A key inside an inline table (`x = { top_n = 3 }`) gets the line of `x`.
    """
    table: list[str] = []
    best: tuple[int, int] | None = None  # (matched length, line)
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header["name"])
            path = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _split_key(key["key"])
        if path[:len(parts)] == parts:  # the key itself, or a table inside it (`[plugins.x]` for `plugins`)
            return number
        length = len(path) if path == parts[:len(path)] else 0
        if length and (best is None or length > best[0]):
            best = (length, number)
    return best[1] if best else None


def template(name: str) -> str:
    """A file shipped in the package under kernel/templates/."""
    return resources.files("qualia.kernel").joinpath("templates", name).read_text(encoding="utf-8")


def init_project(folder: Path, *, language: str = "auto", force: bool = False) -> list[Path]:
    """Make `folder` a project: qualia.toml, the default pipeline, data/ and out/. Returns what was written.

    Refuses (UsageError) to overwrite qualia.toml or the pipeline without `force`; never touches data/ or out/.
    """
    if language not in ("auto", "pt", "en"):
        raise UsageError(f"--language must be auto, pt or en, got {language!r}")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder")
    files = {folder / PROJECT_FILE: string.Template(template(PROJECT_FILE)).substitute(language=language),
             folder / DEFAULT_PIPELINE: template(DEFAULT_PIPELINE)}
    existing = [path for path in files if path.exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise UsageError(f"{folder} already holds a Qualia project ({names}); use --force to overwrite "
                         f"{'it' if len(existing) == 1 else 'them'} (data/ and out/ are never touched)")
    written: list[Path] = []
    for name in FOLDERS:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
        written.append(path)
    parse_project(files[folder / PROJECT_FILE], folder / PROJECT_FILE)  # the template must stay valid
    return written
