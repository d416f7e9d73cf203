"""The `qualia` command line.

Each subcommand is a `Command` in its own module; outside packages add theirs
through the entry-point group `qualia.commands`. Exit codes come from the
error tree (`QualiaError.exit_code`): 0 success, 1 a failure while working,
2 the caller's fault (a bad flag, an unknown plugin, an invalid config or
input). Errors go to stderr, with the plugin's stderr tail under `-v`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from .. import entry_points
from ..errors import QualiaError, translate
from ..project import ProjectFileError
from ..settings import Settings, load_settings
from . import analysis, batch, config, create, export, figures, init, menu, pipelines, plugins, service, watch
from .command import COMMAND_GROUP, Command, Subcommands, with_kernel

__all__ = ["BUILT_IN", "Command", "Subcommands", "build_parser", "main", "with_kernel"]

BUILT_IN: tuple[Command, ...] = (
    service.VERSION, plugins.COMMAND, analysis.ANALYZE, analysis.PROCESS, figures.COMMAND, pipelines.COMMAND,
    batch.COMMAND, export.COMMAND, watch.COMMAND, service.CACHE, service.DOCTOR, service.SERVE, create.COMMAND,
    init.COMMAND, config.COMMAND, menu.COMMAND,
)

# Flags that are the top layer of a setting (default < qualia.toml < QUALIA_* < flag): argparse dest -> field.
# A command that takes one of these dests gets the setting from the same mechanism as every other.
FLAG_SETTINGS = {"home": "home", "plugin_path": "plugin_path", "breaker_failures": "breaker_failures",
                 "breaker_open_s": "breaker_open_s", "pipeline_file": "pipeline", "output_dir": "output_dir",
                 "cluster": "cluster"}
# Commands that still run when the project's qualia.toml is broken (to repair or replace it).
WITHOUT_PROJECT = frozenset({"init", "version"})

log = logging.getLogger("qualia.cli")


def commands() -> dict[str, Command]:
    """Built-in commands, then those of installed add-ons (a name clash keeps the built-in)."""
    found = {command.name: command for command in BUILT_IN}
    for name, command in entry_points.load(COMMAND_GROUP):
        if not isinstance(command, Command):
            log.warning("entry point %s:%s is not a qualia Command; ignored", COMMAND_GROUP, name)
        elif command.name in found:
            log.warning("entry point %s:%s would replace the command %r; ignored", COMMAND_GROUP, name, command.name)
        else:
            found[command.name] = command
    return found


def build_parser(available: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qualia", description="Qualia Core: qualitative text into evidence.")
    parser.add_argument("--project", type=Path, metavar="DIR",
                        help="the project folder (env QUALIA_PROJECT; default: the nearest qualia.toml at or above "
                             "the current folder)")
    parser.add_argument("--home", type=Path, help="data directory (env QUALIA_HOME, default ~/.qualia)")
    parser.add_argument("--plugin-path", action="append", type=Path, metavar="DIR",
                        help="extra folder of plugins (repeatable; env QUALIA_PLUGIN_PATH)")
    parser.add_argument("--breaker-failures", type=int, metavar="N",
                        help="consecutive plugin faults that open the breaker (env QUALIA_BREAKER_FAILURES, default 5)")
    parser.add_argument("--breaker-open-s", type=float, metavar="S",
                        help="seconds a breaker stays open (env QUALIA_BREAKER_OPEN_S, default 300)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log kernel events to stderr; on a plugin failure, show its traceback and stderr")
    subcommands: Subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (available or commands()).values():
        command.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    available = commands()
    parser = build_parser(available)
    args, extra = parser.parse_known_args(argv)
    if extra:  # only a subcommand that declares `passthrough` (e.g. pip arguments after `--`) takes them
        if not hasattr(args, "passthrough") or extra[0] != "--":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.passthrough = extra[1:]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return available[args.command].run(args, settings_for(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        error = translate(exc)
        if error is None:
            if not isinstance(exc, ValueError):  # a bug: let Python print the traceback
                raise
            print(f"qualia: error: {exc}", file=sys.stderr)  # a setting or value that cannot be used
            return 2
        report_error(error, verbose=args.verbose)
        return error.exit_code


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings of this command line: defaults < qualia.toml < QUALIA_* < the flags given."""
    flags = {field: getattr(args, dest, None) for dest, field in FLAG_SETTINGS.items()}
    try:
        return load_settings(project=args.project, flags=flags)
    except ProjectFileError as exc:
        if args.command not in WITHOUT_PROJECT or args.project is not None:
            raise
        log.warning("ignoring the project: %s", exc.message)
        return load_settings(search=False, flags=flags)


def report_error(error: QualiaError, *, verbose: bool) -> None:
    print(f"qualia: error: {error.message}", file=sys.stderr)
    if not verbose:
        return
    trace = error.details.get("traceback")
    if isinstance(trace, str) and trace:
        print(trace.rstrip(), file=sys.stderr)
    for line in error.details.get("stderr_tail") or []:
        print(f"  | {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
