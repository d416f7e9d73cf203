"""`qualia init [DIR]`: make a project folder that every command run inside it picks up."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..project import DEFAULT_PIPELINE, PROJECT_FILE, init_project
from ..settings import Settings
from .command import Command, Subcommands


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    init = commands.add_parser(
        "init", help="make a project folder (qualia.toml, pipelines/, data/, out/)",
        description=f"Make DIR (default: the current folder) a Qualia project: {PROJECT_FILE} (language, "
                    "stopwords, speaker aliases, default pipeline, output folder, plugin settings), "
                    f"{DEFAULT_PIPELINE}, data/ and out/. Commands run in DIR or below it use its settings.")
    init.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR")
    init.add_argument("--language", choices=["auto", "pt", "en"], default="auto",
                      help="the language of your texts (default: auto, detected per document)")
    init.add_argument("--force", action="store_true",
                      help=f"overwrite an existing {PROJECT_FILE} and default pipeline (data/ and out/ are kept)")
    return init


def run(args: argparse.Namespace, settings: Settings) -> int:
    existed = [name for name in (PROJECT_FILE, DEFAULT_PIPELINE) if (args.folder / name).exists()]
    init_project(args.folder, language=args.language, force=args.force)
    root = args.folder.resolve()
    print(f"Qualia project in {root}")
    notes = {PROJECT_FILE: "settings: language, stopwords, speaker aliases, pipeline, output, plugins",
             DEFAULT_PIPELINE: "the default pipeline", "data/": "put your transcripts here",
             "out/": "results"}
    width = max(map(len, notes))
    for name, note in notes.items():
        print(f"  {name.ljust(width)}  {note}")
    if existed:
        print(f"(--force: rewrote {', '.join(existed)}; data/ and out/ are untouched)")
    here = Path(os.path.relpath(root))
    here = root if here.parts[:1] == ("..",) else here  # `cd ../../x` says less than the full path
    step = "" if here == Path(".") else f"cd {here}, then "
    print(f"Next: {step}put files in data/ and run `qualia menu`, or `qualia batch data` then "
          "`qualia export --format xlsx`.")
    return 0


COMMAND = Command("init", add_parser, run)
