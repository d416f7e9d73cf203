"""ops/ plugs in from outside: it imports only what `qualia.kernel` and `qualia.kernel.server` export.

Read from the source, so a new `from qualia.kernel.jobs.store import ...` in
ops/ fails here: the kernel's inside can change without breaking the add-ons.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

OPS = Path(__file__).resolve().parents[2] / "ops"
PUBLIC = ("qualia.kernel", "qualia.kernel.server")


def kernel_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of a `qualia.*` module outside ops/ in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names if alias.name.startswith("qualia.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("qualia"):
            found.append((node.lineno, node.module or "", [alias.name for alias in node.names]))
    return [item for item in found if not item[1].startswith("qualia.ops")]


def test_ops_imports_only_the_public_names_of_the_kernel_and_its_server():
    bad = []
    checked = 0
    for path in sorted(OPS.rglob("*.py")):
        for line, module, names in kernel_imports(path):
            where = f"{path.relative_to(OPS.parent)}:{line}"
            if module not in PUBLIC or not names:
                bad.append(f"{where} imports {module} (only {' and '.join(PUBLIC)} are public)")
                continue
            exported = importlib.import_module(module).__all__
            bad += [f"{where} imports {name} from {module}, which does not export it" for name in names
                    if name not in exported]
            checked += 1
    assert checked >= 5  # the reader found the imports it should (auth, rate limits, Sentry, backups, ...)
    assert bad == []


def test_every_exported_name_exists():
    for module in PUBLIC:
        imported = importlib.import_module(module)
        for name in imported.__all__:
            assert getattr(imported, name) is not None, f"{module}.{name}"
