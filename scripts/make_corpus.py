#!/usr/bin/env python3
"""Write a deterministic synthetic corpus of transcripts for benchmarks.

Usage: make_corpus.py OUT_DIR [--docs N] [--kb SIZE_KB] [--lang pt|en|mix] [--format vtt|txt]

Words follow a Zipf-like distribution over the vocabulary of the sample
transcripts in ../data/transcripts, so frequency and sentiment plugins see
realistic text. The same arguments always give the same files.
"""
import argparse
import pathlib
import random
import re

HERE = pathlib.Path(__file__).resolve().parent
SAMPLES = HERE.parent / "examples" / "transcripts"  # copied from the shared bench kit; samples live in examples/
SPEAKERS = ["Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves",
            "Priya Natarajan", "Tom Becker", "Lena Park", "Marcus Reed"]


def vocabulary(lang: str) -> list[str]:
    files = sorted(SAMPLES.glob("*"))
    files = [f for f in files if f"_{lang}" in f.name]
    words: list[str] = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        text = re.sub(r"<v [^>]+>|</v>|\d\d:\d\d[:.,\d]*|-->", " ", text)
        words += re.findall(r"[^\W\d_]+", text.lower())
    return sorted(set(words)) or ["empty"]


def sentence(rng: random.Random, vocab: list[str], weights: list[float]) -> str:
    n = rng.randint(6, 22)
    words = rng.choices(vocab, weights=weights, k=n)
    return words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice([".", ".", ".", "?", "!"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--docs", type=int, default=100)
    p.add_argument("--kb", type=int, default=5, help="approximate size of each document")
    p.add_argument("--lang", choices=["pt", "en", "mix"], default="mix")
    p.add_argument("--format", choices=["vtt", "txt"], default="vtt")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = random.Random(a.seed)
    vocabs = {}
    for lang in (["pt", "en"] if a.lang == "mix" else [a.lang]):
        vocab = vocabulary(lang)
        rng.shuffle(vocab)
        vocabs[lang] = (vocab, [1.0 / (rank + 1) for rank in range(len(vocab))])
    a.out.mkdir(parents=True, exist_ok=True)
    for i in range(a.docs):
        vocab, weights = vocabs[list(vocabs)[i % len(vocabs)]]  # mix: documents alternate pt, en
        parts, t, size = ["WEBVTT", ""] if a.format == "vtt" else [], 0.0, 0
        while size < a.kb * 1024:
            speaker = rng.choice(SPEAKERS)
            text = sentence(rng, vocab, weights)
            dur = 2 + len(text) / 15
            if a.format == "vtt":
                cue = (f"{_ts(t)} --> {_ts(t + dur)}\n<v {speaker}>{text}</v>\n")
            else:
                cue = f"[{_ts(t)[:8]}] {speaker}: {text}"
            parts.append(cue)
            size += len(cue.encode())
            t += dur + 0.3
        ext = "vtt" if a.format == "vtt" else "txt"
        (a.out / f"doc{i:05d}.{ext}").write_text("\n".join(parts) + "\n", encoding="utf-8")


def _ts(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


if __name__ == "__main__":
    main()
