"""Write docs/schemas/*.schema.json: the Document, the pipeline file and the POST /pipeline body, as JSON Schema.

Generated from the msgspec types the kernel decodes (msgspec.json.schema), so the
documentation cannot drift from what is accepted; tests/test_authoring_docs.py
fails when a file is out of date. Run: .venv/bin/python scripts/make_doc_schemas.py
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from qualia.kernel.pipeline import PipelineSpec
from qualia.kernel.server.schemas import PipelineRequest
from qualia.plugin_sdk.document import Document

FOLDER = Path(__file__).resolve().parent.parent / "docs" / "schemas"
SCHEMAS: dict[str, tuple[Any, str]] = {
    "document.schema.json": (Document, "The Document every plugin receives in `run` (and document plugins return)"),
    "pipeline.schema.json": (PipelineSpec, "A pipeline file (TOML or JSON): `qualia pipeline FILE -f PIPELINE`"),
    "pipeline-request.schema.json": (PipelineRequest, "The body of POST /pipeline"),
}


def render(name: str) -> str:
    kind, title = SCHEMAS[name]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
              **msgspec.json.schema(kind)}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (FOLDER / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {FOLDER / name}")
