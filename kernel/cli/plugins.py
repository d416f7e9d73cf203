"""`qualia plugins [show ID]`: what discovery found, read from manifests only (no process starts)."""
from __future__ import annotations

import argparse
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import Manifest

from ..registry import Registry
from ..settings import Settings
from .command import Command, Subcommands
from .render import emit, format_table, render_human, to_json


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    plugins = commands.add_parser("plugins", help="list plugins", description="List discovered plugins (starts none).")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    sub = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="show one plugin", description="Show a plugin's manifest.")
    show.add_argument("plugin_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    return plugins


def manifest_view(manifest: Manifest, state: Any = None) -> dict[str, Any]:
    view = msgspec.to_builtins(manifest)
    view["state"] = msgspec.to_builtins(state) if state is not None else "not started"
    return view


def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry(settings.plugin_path, entry_points=settings.use_entry_points)
    registry.reload()
    if args.plugins_command == "show":
        return _show(registry.get(args.plugin_id), as_json=args.json)
    if args.json:
        emit(to_json({"plugins": [manifest_view(m) for m in registry],
                      "problems": msgspec.to_builtins(registry.problems)}), None)
        return 0
    rows = [{"id": m.id, "kind": m.kind, "version": m.version, "provides": ",".join(m.provides),
             "requires": ",".join(m.requires), "description": m.description} for m in registry]
    lines = format_table(rows, 1000) if rows else ["no plugins found"]
    lines += [f"broken: {problem.path}: {problem.reason}" for problem in registry.problems]
    emit("\n".join(lines), None)
    return 0


def _show(manifest: Manifest, *, as_json: bool) -> int:
    view = manifest_view(manifest)
    if as_json:
        emit(to_json(view), None)
        return 0
    params = view.pop("parameters")
    lines = render_human(view)
    lines.append("parameters:")
    rows = [{"name": name, "type": p["type"], "default": p.get("default"),
             "range/choices": p.get("choices") or _range(p), "description": p.get("description", "")}
            for name, p in params.items()]
    lines += ["  " + line for line in (format_table(rows, 100) if rows else ["(none)"])]
    emit("\n".join(lines), None)
    return 0


def _range(param: dict[str, Any]) -> str:
    low, high = param.get("min"), param.get("max")
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"


COMMAND = Command("plugins", add_parser, run)
