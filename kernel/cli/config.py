"""`qualia config [show|check]`: the effective settings, where each came from, and whether they can run.

`show` prints what `load_settings` produced for this command line (the same
layers every command gets). `check` goes further than loading, which already
refuses a bad key or value: it reads the plugins' manifests (starting none) to
check `[plugins.ID]` tables and the shared parameters, and plans the default
pipeline, so a project is known good before a long batch starts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import ConfigError, validate_config

from ..errors import QualiaError
from ..kernel import Kernel
from ..pipeline import load_pipeline, plan_pipeline
from ..project import PROJECT_FILE, suggestion
from ..settings import SOURCES, Origin, Settings
from .command import Command, Subcommands
from .render import emit, format_table, short, to_json


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    config = commands.add_parser("config", help="show or check the settings",
                                 description="Show the effective settings and where each came from (default, "
                                             "qualia.toml, QUALIA_* environment, flag), or check them.")
    config.add_argument("--json", action="store_true", help="machine-readable output (show)")
    sub = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="the effective settings (the default)",
                          description="Print every setting, its value and where it came from.")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    sub.add_parser("check", help="validate qualia.toml, plugin settings and the pipeline (exit 2 when bad)",
                   description="Validate the settings: qualia.toml keys and values, [plugins.ID] against the "
                               "plugins' manifests, and the default pipeline. Exit 0 when all is fine, 2 naming "
                               "the bad key otherwise.")
    return config


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.config_command == "check":
        return check(settings)
    rows = effective(settings)
    if args.json:
        emit(to_json({"project": str(settings.project) if settings.project else None,
                      "settings": {row.pop("setting"): row for row in rows}}), None)
        return 0
    table = [{"setting": row["setting"], "value": display(row["value"]), "from": row["from"]}
             for row in rows]
    emit("\n".join([project_line(settings), "", *format_table(table, limit=len(table), width=70)]), None)
    return 0


def effective(settings: Settings) -> list[dict[str, Any]]:
    """One row per setting (its qualia.toml key), then one per `[plugins.ID]` parameter."""
    rows = []
    for source in SOURCES:
        if source.field == "plugins":
            continue
        origin = settings.origin(source.field)
        value = msgspec.to_builtins(getattr(settings, source.field), enc_hook=str)
        rows.append({"setting": source.name, "value": value,
                     "source": origin.source, "where": origin.where, "from": str(origin), "env": source.env,
                     "flag": source.flag})
    for plugin_id, params in sorted(settings.plugins.items()):
        for key, value in params.items():
            origin = settings.parameter_origin(plugin_id, key)
            rows.append({"setting": f"plugins.{plugin_id}.{key}", "value": value, "source": origin.source,
                         "where": origin.where, "from": str(origin), "env": None, "flag": "-P"})
    return rows


def display(value: Any) -> str:
    if value is None:
        return "-"
    return short(value, 70) if not isinstance(value, str) else value


def project_line(settings: Settings) -> str:
    if settings.project is None:
        return (f"project: none (no {PROJECT_FILE} at or above {Path.cwd()}; `qualia init` makes one); "
                f"settings from defaults, QUALIA_* and flags")
    how = settings.origin("project")
    return f"project: {settings.project / PROJECT_FILE}" + (f" ({how})" if how.where else "")


# ---- check -------------------------------------------------------------------------------------------

def check(settings: Settings) -> int:
    """Loading already passed (a bad key or value stops every command); now what needs the plugins."""
    kernel = Kernel(settings)
    kernel.registry.reload()
    problems = plugin_problems(kernel, settings)
    notes: list[str] = [f"broken plugin manifest {p.path}: {p.reason}" for p in kernel.registry.problems]
    steps = 0
    if settings.pipeline is not None and not problems:  # a bad plugin setting would fail every step again
        try:
            steps = len(plan_pipeline(kernel, load_pipeline(settings.pipeline)))
        except QualiaError as exc:
            problems.append(f"{where(settings.origin('pipeline'))}pipeline: {exc.message}")
    if settings.data_dir is not None and not settings.data_dir.is_dir():
        notes.append(f"{where(settings.origin('data_dir'))}data folder {settings.data_dir} does not exist")
    for note in notes:
        print(f"qualia: warning: {note}", file=sys.stderr)
    for problem in problems:
        print(f"qualia: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(project_line(settings))
    if settings.pipeline is not None:
        print(f"pipeline: {settings.pipeline} ({steps} steps, all plugins and parameters known)")
    configured = ", ".join(sorted(settings.plugins)) or "none"
    print(f"plugin settings: {configured}; {len(kernel.registry)} plugins found")
    print("ok")
    return 0


def where(origin: Origin) -> str:
    """`file:line: ` (or `env VAR: `) to start a message about a value, nothing for a default."""
    return f"{origin}: " if origin.source != "default" else ""


def plugin_problems(kernel: Kernel, settings: Settings) -> list[str]:
    """`[plugins.ID]`: known plugin, known parameters (closest suggested), valid values; shared settings too."""
    problems = []
    known_ids = [manifest.id for manifest in kernel.registry]
    for plugin_id, params in settings.plugins.items():
        if plugin_id not in known_ids:
            hint = suggestion(plugin_id, known_ids)
            origin = where(settings.origin(f"plugins.{plugin_id}"))
            problems.append(f"{origin}[plugins.{plugin_id}]: no plugin {plugin_id!r}"
                            + (f"; did you mean {hint!r}?" if hint else f" (plugins: {', '.join(known_ids)})"))
            continue
        manifest = kernel.registry.get(plugin_id)
        for key, value in params.items():
            origin = where(settings.parameter_origin(plugin_id, key))
            known = sorted(manifest.parameters) + (["format"] if manifest.kind == "visualizer" else [])
            if key not in known:
                hint = suggestion(key, known)
                problems.append(f"{origin}plugins.{plugin_id}.{key}: unknown parameter of {plugin_id!r}"
                                + (f"; did you mean {hint!r}?" if hint else f" (known: {', '.join(known)})"))
                continue
            try:
                validate_config(manifest, {key: value})
            except ConfigError as exc:
                problems.append(f"{origin}plugins.{plugin_id}.{key}: {exc.message}")
    if not problems:  # the shared settings (language, stopwords, aliases) against every plugin taking them
        for manifest in kernel.registry:
            try:
                kernel.prepare_config(manifest, {})
            except QualiaError as exc:
                problems.append(exc.message)
    return problems


COMMAND = Command("config", add_parser, run)
