"""How results look on a terminal: scalars as lines, lists of objects as tables, JSON on demand."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec


def format_table(rows: list[dict[str, Any]], limit: int = 25, width: int = 60) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[short(row.get(col, ""), width) for col in columns] for row in rows[:limit]]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (use --json for all)")
    return lines


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 3] + "..."


def render_human(value: Any, indent: str = "") -> list[str]:
    """A readable view of any JSON result: scalars as lines, lists of objects as tables."""
    lines: list[str] = []
    if not isinstance(value, dict):
        return [indent + short(value)]
    for key, item in value.items():
        if isinstance(item, list) and item and all(isinstance(row, dict) for row in item):
            lines.append(f"{indent}{key}:")
            lines += [indent + "  " + line for line in format_table(item)]
        elif isinstance(item, dict) and item:
            lines.append(f"{indent}{key}:")
            lines += render_human(item, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {short(item)}")
    return lines


def emit(text: str, output: Path | None) -> None:
    """Write `text` to stdout, or to `output` (parents created)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def to_json(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode("utf-8")
