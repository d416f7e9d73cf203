#!/usr/bin/env python3
"""Build the B2W held-out set from B2W-Polarity-Balanced (Ehrenfried & Todt, PROPOR 2022).

B2W-Polarity-Balanced is derived from B2W-Reviews01 (Real, Oshiro & Mafra, STIL 2019; Americanas product
reviews, CC BY-NC-SA 4.0): one review per file, named <class>_<id>.txt, class 0 for 1-2 stars and 1 for 4-5
stars. An MIT repository does not redistribute the texts; pt_b2w_test.ids keeps the file names. With a
checkout of the B2W-Datasets repository (github.com/HenriqueVarellaEhrenfried/B2W-Datasets, the test files
unpacked from Experiment_dataset.zip or the B2W-Polarity-Balanced/Test folder):

    python scripts/sentiment_eval/build_pt_b2w.py PATH/B2W-Polarity-Balanced/Test
    python scripts/eval_sentiment.py                 # now also reports pt_b2w_test

writes scripts/sentiment_eval/pt_b2w_test.tsv as "text<TAB>positive|negative", whitespace collapsed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = {"0": "negative", "1": "positive"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder holding B2W-Polarity-Balanced's <class>_<id>.txt")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder}: no such folder", file=sys.stderr)
        return 2
    names = [line.strip() for line in (HERE / "pt_b2w_test.ids").read_text().splitlines() if line.strip()]
    rows = []
    for name in names:
        path = args.folder / f"{name}.txt"
        label = LABELS.get(name.partition("_")[0])
        if label is None:
            print(f"error: pt_b2w_test.ids: {name!r} is not <0|1>_<id>", file=sys.stderr)
            return 1
        if not path.is_file():
            print(f"error: {path}: no such file (is this B2W-Polarity-Balanced/Test?)", file=sys.stderr)
            return 1
        rows.append(f"{' '.join(path.read_text(encoding='utf-8').split())}\t{label}\n")
    out = HERE / "pt_b2w_test.tsv"
    out.write_text("".join(rows), encoding="utf-8")
    print(f"wrote {out} ({len(rows)} reviews)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
