"""The layering the design fixes, checked by reading every module's imports.

kernel/ never imports ops/ or the bundled plugins (it picks plugins by what they
provide, and ops/ plugs in through entry points); plugins import only the SDK and
the bundled plugins' own shared helpers; the SDK imports nothing of Qualia but itself.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def qualia_imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every `qualia.*` import in `path`, relative ones resolved."""
    package = ["qualia", *path.relative_to(root).with_suffix("").parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from . import x`: x is a module of that package
                    found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
                    continue
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return [(line, module) for line, module in found if module == "qualia" or module.startswith("qualia.")]


# The SDK's pytest plugin gives authors a real kernel in their tests (the `qualia_kernel` fixture): it is test
# tooling that imports the kernel lazily, inside that fixture, and no plugin imports it at run time.
EXEMPT = {"plugin_sdk/pytest_plugin.py": ("qualia.kernel.embedded",)}


def violations(folder: str, allowed: tuple[str, ...], root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        allowed_here = allowed + EXEMPT.get(path.relative_to(root).as_posix(), ())
        for line, module in qualia_imports(path, root):
            if not any(module == prefix or module.startswith(prefix + ".") for prefix in allowed_here):
                bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize(("folder", "allowed"), [
    ("kernel", ("qualia.kernel", "qualia.plugin_sdk")),
    ("plugin_sdk", ("qualia.plugin_sdk",)),
    ("plugins", ("qualia.plugin_sdk", "qualia.plugins")),
])
def test_layer_imports_only_what_it_may(folder: str, allowed: tuple[str, ...]) -> None:
    assert violations(folder, allowed) == []


def test_a_bundled_plugin_never_imports_another_plugin() -> None:
    bad = []
    for plugin in sorted(p.parent for p in (ROOT / "plugins").glob("*/plugin.toml")):
        for path in sorted(plugin.rglob("*.py")):
            for line, module in qualia_imports(path):
                parts = module.split(".")
                other = parts[2] if len(parts) > 2 and parts[1] == "plugins" else None
                if other and other != plugin.name and (ROOT / "plugins" / other / "plugin.toml").exists():
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports the plugin {other}")
    assert bad == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rule above could pass by reading nothing: show it catches both import forms."""
    (tmp_path / "kernel" / "server").mkdir(parents=True)
    (tmp_path / "kernel" / "server" / "probe.py").write_text(
        "from qualia.ops import server\nfrom ...plugins import word_frequency\nfrom .. import cache\n"
        "import qualia.plugins.teams_cleaner\n", encoding="utf-8")
    assert violations("kernel", ("qualia.kernel", "qualia.plugin_sdk"), tmp_path) == [
        "kernel/server/probe.py:1 imports qualia.ops",
        "kernel/server/probe.py:2 imports qualia.plugins",
        "kernel/server/probe.py:4 imports qualia.plugins.teams_cleaner"]
