"""`qualia export OUT --format csv|xlsx|parquet|qdpx [-o FILE]`: a batch's results as tidy tables or a
REFI-QDA project."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..corpus import FORMATS, default_target, export_corpus
from ..settings import Settings
from .command import Command, Subcommands


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    export = commands.add_parser(
        "export", help="export a batch's results: csv, xlsx, parquet or a REFI-QDA project",
        description="Tidy tables from a batch's output folder: segments (one row per segment), terms (term x "
                    "document x speaker) and documents (one row per document), plus speakers (speaker x "
                    "document), speaker_stats_by_meeting (speaker x document) and speaker_stats (speaker across "
                    "the corpus). csv and parquet write one file per table into a folder, xlsx one sheet per "
                    "table; qdpx writes a REFI-QDA project (QualCoder, MAXQDA, NVivo, ATLAS.ti).")
    export.add_argument("out", type=Path, nargs="?", metavar="OUT",
                        help="the output folder of `qualia batch` (default: the project's output folder)")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="file (xlsx, qdpx) or folder (csv, parquet); default OUT/export/...")
    export.add_argument("--bom", action="store_true", help="csv: start each file with a UTF-8 BOM (for Excel)")
    export.add_argument("--aliases", type=Path, metavar="FILE",
                        help="speaker aliases (default: those the batch used)")
    return export


def run(args: argparse.Namespace, settings: Settings) -> int:
    out = args.out or settings.output_dir
    target = args.output or default_target(out, args.format)
    written = export_corpus(out, args.format, target, aliases=args.aliases, bom=args.bom)
    for path in written:
        print(path)
    print(f"exported {args.format}: {len(written)} file(s)", file=sys.stderr)
    return 0


COMMAND = Command("export", add_parser, run)
