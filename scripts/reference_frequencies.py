#!/usr/bin/env python3
"""Count the words of a reference corpus for keyness (`reference_frequencies`).

Usage: scripts/reference_frequencies.py FILE... [-o OUT.json] [--clean]

Words are counted exactly as the keyness plugin counts its target (the bundled
plugins' tokenizer), so totals agree. `--clean` first parses transcripts with
the installed segments provider (teams_cleaner) through the kernel, so speaker
names, timestamps and system lines are not counted. The output is
`{"total": N, "frequencies": {word: count}, "source": {...}}`; send it as the
keyness config `reference_frequencies` (API body or pipeline file). Lemmas are
not applied here: keyness with `lemmas = true` lemmatizes these counts itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qualia.kernel import Kernel, Settings  # noqa: E402
from qualia.kernel.inputs import load_document  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402
from qualia.plugins._text.tokens import count_words, pieces  # noqa: E402


async def cleaned(documents: list[Document]) -> list[Document]:
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="qualia-reference-")), use_entry_points=False)
    async with Kernel(settings) as kernel:
        providers = kernel.registry.providers("segments")
        if not providers:
            raise SystemExit("reference_frequencies: --clean needs a plugin that provides `segments`")
        out = []
        for document in documents:
            outcome = await kernel.run(providers[0].id, document, use_cache=False)
            assert outcome.document is not None
            out.append(outcome.document)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--clean", action="store_true", help="parse transcripts into segments first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    try:
        documents = [load_document(str(path)) for path in args.files]
    except OSError as exc:
        print(f"reference_frequencies: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.clean:
        documents = asyncio.run(cleaned(documents))
    counts: Counter[str] = Counter()
    for document in documents:
        counts.update(count_words(piece.text for piece in pieces(document)))
    frequencies = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    text = json.dumps({"total": sum(counts.values()), "frequencies": frequencies,
                       "source": {"files": [str(path) for path in args.files], "cleaned": args.clean}},
                      ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
