#!/usr/bin/env python3
"""Build the Portuguese evaluation (and tuning) sets from Olist's order reviews.

The review texts are licensed CC BY-NC-SA 4.0 (Olist, "Brazilian E-Commerce Public Dataset by Olist"), which
an MIT repository does not redistribute; only the review ids are kept here. With the dataset's
olist_order_reviews_dataset.csv (Kaggle, olistbr/brazilian-ecommerce):

    python scripts/sentiment_eval/build_pt_olist.py PATH/olist_order_reviews_dataset.csv
    python scripts/eval_sentiment.py                 # now also reports pt_olist_test and pt_olist_heldout

writes, as "text<TAB>stars", one file per ids list in this folder: pt_olist_test.tsv and pt_olist_heldout.tsv
(held out: never used to tune the analyzer) and tuning/pt_olist_tune.tsv, tuning/pt_olist_tune2.tsv (the
slices read while choosing lexicon entries; under tuning/ so the default run does not report them).
The comment message is used (not the title), with whitespace collapsed.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = {
    "pt_olist_test": HERE / "pt_olist_test.tsv",
    "pt_olist_heldout": HERE / "pt_olist_heldout.tsv",
    "pt_olist_tune": HERE / "tuning" / "pt_olist_tune.tsv",
    "pt_olist_tune2": HERE / "tuning" / "pt_olist_tune2.tsv",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path, help="olist_order_reviews_dataset.csv")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"error: {args.csv}: no such file", file=sys.stderr)
        return 2
    reviews: dict[str, tuple[str, str]] = {}
    with args.csv.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"review_id", "review_score", "review_comment_message"} - set(reader.fieldnames or ())
        if missing:
            print(f"error: {args.csv}: missing column(s) {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
        for row in reader:
            reviews[row["review_id"].strip('"')] = (" ".join(row["review_comment_message"].split()),
                                                    row["review_score"].strip())
    status = 0
    for name, out in SETS.items():
        ids = [line.strip() for line in (HERE / f"{name}.ids").read_text().splitlines() if line.strip()]
        absent = [review_id for review_id in ids if review_id not in reviews or not reviews[review_id][0]]
        if absent:
            print(f"error: {name}: {len(absent)} review id(s) not in {args.csv} (first: {absent[0]})",
                  file=sys.stderr)
            status = 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(f"{reviews[i][0]}\t{reviews[i][1]}\n" for i in ids), encoding="utf-8")
        print(f"wrote {out} ({len(ids)} reviews)")
    return status


if __name__ == "__main__":
    sys.exit(main())
