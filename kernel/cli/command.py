"""`Command`: one `qualia` subcommand, built in or added from outside.

Each command module exports a `COMMAND`. Outside packages (the `ops` add-ons,
a lab's own tools) add theirs through the entry-point group `qualia.commands`,
read by `qualia.kernel.entry_points` like the plugins' group, so the CLI never
imports them by name and works when they are not installed.
"""
from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

from ..kernel import Kernel
from ..settings import Settings

Subcommands = argparse._SubParsersAction  # type: ignore[type-arg]  # what `add_subparsers` returns

COMMAND_GROUP = "qualia.commands"


@dataclass(frozen=True)
class Command:
    name: str
    add_parser: Callable[[Subcommands], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace, Settings], int]


def with_kernel(command: Callable[[argparse.Namespace, Kernel], Awaitable[int]]
                ) -> Callable[[argparse.Namespace, Settings], int]:
    """Run an async command with a started kernel that is stopped (with its plugins) afterwards."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        async def main() -> int:
            async with Kernel(settings) as kernel:
                return await command(args, kernel)

        return asyncio.run(main())

    return run
