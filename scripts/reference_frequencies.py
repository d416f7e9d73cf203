#!/usr/bin/env python3
"""Count the words of a reference corpus for keyness (`reference_frequencies`).

Usage: scripts/reference_frequencies.py FILE... [-o OUT.json] [--raw]

Files are read as the CLI reads them (kernel.readers: encodings, PDF, .docx,
CSV rows from a `text` column). Words are counted exactly as the keyness plugin counts its target (the bundled
plugins' tokenizer), so totals agree. Transcripts are first parsed by the
installed segments provider (teams_cleaner) through the kernel, as every
analysis does, so speaker names, timestamps and system lines are not counted;
`--raw` counts their text as it is. The output is
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
from qualia.kernel.errors import QualiaError  # noqa: E402
from qualia.kernel.readers import document_layout, read_documents  # noqa: E402
from qualia.plugin_sdk import Document  # noqa: E402
from qualia.plugins._text.tokens import count_words, pieces  # noqa: E402


async def cleaned(documents: list[Document]) -> list[Document]:
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="qualia-reference-")), use_entry_points=False)
    async with Kernel(settings) as kernel:
        providers = kernel.registry.providers("segments")
        if not providers:
            raise SystemExit("reference_frequencies: cleaning transcripts needs a plugin that provides `segments` "
                             "(or give --raw)")
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
    parser.add_argument("--raw", action="store_true", help="count transcripts as they are (no cleaning)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    try:  # the kernel's readers: any encoding, PDF, .docx, and a CSV's rows (text column "text")
        documents = [document for path in args.files for document in read_documents(path, text_column="text")]
    except QualiaError as exc:
        print(f"reference_frequencies: {exc}", file=sys.stderr)
        return 2
    transcripts = [i for i, document in enumerate(documents) if not args.raw and document_layout(document)]
    if transcripts:
        for index, document in zip(transcripts, asyncio.run(cleaned([documents[i] for i in transcripts]))):
            documents[index] = document
    counts: Counter[str] = Counter()
    for document in documents:
        counts.update(count_words(piece.text for piece in pieces(document)))
    frequencies = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    text = json.dumps({"total": sum(counts.values()), "frequencies": frequencies,
                       "source": {"files": [str(path) for path in args.files], "cleaned": len(transcripts)}},
                      ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
