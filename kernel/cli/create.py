"""`qualia create plugin ID --kind ...`: scaffold a plugin that passes its checks and tests at once."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..scaffold import KINDS, LANGUAGES, create_plugin
from ..settings import Settings
from .command import Command, Subcommands
from .render import emit, to_json


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    create = commands.add_parser("create", help="create a new plugin from a template",
                                 description="Create things from templates (docs/plugin-authoring.md).")
    sub = create.add_subparsers(dest="create_command", required=True, metavar="WHAT")
    plugin = sub.add_parser("plugin", help="a new plugin: manifest, code, tests, README",
                            description="Write a working plugin into DIR/ID: its manifest, code, a passing test and "
                                        "a README. With --package, a pip-installable project registering the "
                                        "qualia.plugins entry point.")
    plugin.add_argument("plugin_id", metavar="ID", help="plugin id: lower case letters, digits and _")
    plugin.add_argument("--kind", required=True, choices=KINDS, help="what the plugin does with a Document")
    plugin.add_argument("--lang", default="python", choices=LANGUAGES, help="language (default python)")
    plugin.add_argument("--package", action="store_true",
                        help="a pip-installable distribution (pyproject.toml, entry point, plugin.toml as "
                             "package data)")
    plugin.add_argument("--dir", type=Path, default=None, metavar="DIR",
                        help="where to create the ID folder (default: the current folder)")
    plugin.add_argument("--name", help="display name (default: from the id)")
    plugin.add_argument("--json", action="store_true", help="machine-readable output")
    return create


def run(args: argparse.Namespace, settings: Settings) -> int:
    made = create_plugin(args.plugin_id, args.kind, language=args.lang, package=args.package, parent=args.dir,
                         name=args.name)
    if args.json:
        emit(to_json(made), None)
        return 0
    lines = [f"created {args.kind} plugin {args.plugin_id!r} ({args.lang}{', package' if args.package else ''}) "
             f"in {made.root}"]
    lines += [f"  {name}" for name in made.files]
    lines.append("next:")
    lines += [f"  {step}" for step in made.steps]
    emit("\n".join(lines), None)
    return 0


COMMAND = Command("create", add_parser, run)
