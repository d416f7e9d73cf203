"""`qualia create plugin`: a working plugin from the templates in kernel/templates/.

The templates are plain files with `{{name}}` placeholders (a placeholder the
renderer does not know is an error, never left in a generated file). What is
generated passes `qualia plugins check` and its own tests at once:

- a folder plugin (`<id>/plugin.toml`, the code, tests, a README) to put in a
  QUALIA_PLUGIN_PATH folder, or with `package=True` a pip-installable project
  (`pyproject.toml` registering the `qualia.plugins` entry point and shipping
  `plugin.toml` as package data, the plugin in the package `qualia_<id>`);
- Python (the SDK, tests with the pytest fixtures) or Node.js (a dependency-free
  protocol module `qualia.js`, tests for `node --test`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import msgspec

from qualia.plugin_sdk.manifest import ID_PATTERN

from .errors import UsageError
from .versions import kernel_version

TEMPLATES = Path(__file__).resolve().parent / "templates"
Kind = Literal["analyzer", "document", "visualizer"]
Language = Literal["python", "node"]
KINDS: tuple[Kind, ...] = ("analyzer", "document", "visualizer")
LANGUAGES: tuple[Language, ...] = ("python", "node")
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class Scaffold(msgspec.Struct, kw_only=True):
    root: str  # the folder created
    plugin_dir: str  # the folder holding plugin.toml
    files: list[str]  # relative to root
    steps: list[str]  # what to run next, as shell commands


def render(template: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:
            raise ValueError(f"template placeholder {{{{{match.group(1)}}}}} has no value") from None

    return _PLACEHOLDER.sub(fill, template)


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _title(plugin_id: str) -> str:
    return " ".join(part.capitalize() for part in plugin_id.split("_") if part)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def create_plugin(plugin_id: str, kind: Kind, *, language: Language = "python", package: bool = False,
                  parent: Path | None = None, name: str | None = None) -> Scaffold:
    """Write a new plugin into `parent/plugin_id` (which must not exist or be empty); return what was made."""
    if not ID_PATTERN.match(plugin_id):
        raise UsageError(f"plugin id {plugin_id!r} must match {ID_PATTERN.pattern} (lower case, digits, _)")
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if language not in LANGUAGES:
        raise UsageError(f"--lang must be one of {', '.join(LANGUAGES)}, got {language!r}")
    parent = (parent or Path.cwd()).resolve()
    root = parent / plugin_id
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} already exists and is not an empty folder; choose another id or --dir")
    package_name = f"qualia_{plugin_id}"
    plugin_dir = root / package_name if package else root
    minimum = ".".join(kernel_version().split("+")[0].split(".")[:2])
    code_file = "plugin.py" if language == "python" else "plugin.js"
    command = ["{python}", "plugin.py"] if language == "python" else ["node", "plugin.js"]
    values = {
        "id": plugin_id, "name": name or _title(plugin_id), "kind": kind, "kernel_min": minimum,
        "class_name": "".join(part.capitalize() for part in plugin_id.split("_")) or "Plugin",
        "command": _toml_list(command), "package": package_name,
        "distribution": f"qualia-{plugin_id.replace('_', '-')}",
        "language": "Python" if language == "python" else "Node.js",
        "flags": (" --lang node" if language == "node" else "") + (" --package" if package else ""),
    }
    manifest_text = render(_template(f"manifest/{kind}.toml.tmpl"), values)
    described = re.search(r'^description = "(.*)"$', manifest_text, re.M)
    values["description"] = described.group(1) if described else ""

    files: dict[Path, str] = {plugin_dir / "plugin.toml": manifest_text}
    if language == "python":
        files[plugin_dir / code_file] = render(_template(f"python/{kind}.py.tmpl"), values)
        files[root / "tests" / f"test_{plugin_id}.py"] = render(_template(f"python/test_{kind}.py.tmpl"), values)
        test_step = f"(cd {plugin_id} && python -m pytest -q)"
    else:
        files[plugin_dir / code_file] = render(_template(f"node/{kind}.js.tmpl"), values)
        files[plugin_dir / "qualia.js"] = render(_template("node/qualia.js.tmpl"), values)
        node_tests = render(_template(f"node/tests_{kind}.js.tmpl"), values)
        test_text = render(_template("node/test.js.tmpl"), {**values, "node_tests": node_tests.rstrip()})
        files[root / "test" / "plugin.test.js"] = test_text.replace(
            'path.join(__dirname, "..")', f'path.join(__dirname, "..", "{package_name}")' if package else
            'path.join(__dirname, "..")')
        test_step = f"(cd {plugin_id} && node --test)"
    if package:
        files[plugin_dir / "__init__.py"] = f'"""{values["name"]}: a Qualia plugin (see plugin.toml)."""\n'
        pyproject = render(_template("package/pyproject.toml.tmpl"), values)
        if language == "node":
            pyproject = pyproject.replace('["plugin.toml"]', '["plugin.toml", "*.js"]')
        files[root / "pyproject.toml"] = pyproject
        steps = [f"qualia plugins check {plugin_dir}", test_step, f"python -m pip install -e {root}",
                 f"qualia plugins show {plugin_id}"]
    else:
        steps = [f"qualia plugins check {plugin_dir}", test_step, f"export QUALIA_PLUGIN_PATH={parent}",
                 f"qualia plugins show {plugin_id}"]
    steps.append(_use_step(plugin_id, kind))
    table = "\n".join(f"| `{path.relative_to(root).as_posix()}` | {_role(path, plugin_id)} |"
                      for path in sorted(files) if path.name != "README.md")
    readme_steps = [step.replace(str(parent) + "/", "").replace(str(parent), "..") for step in steps]
    files[root / "README.md"] = render(_template("README.md.tmpl"),
                                       {**values, "file_table": table, "steps": "\n".join(readme_steps)})

    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Scaffold(root=str(root), plugin_dir=str(plugin_dir), files=sorted(str(p.relative_to(root)) for p in files),
                    steps=steps)


def _use_step(plugin_id: str, kind: Kind) -> str:
    if kind == "analyzer":
        return f"qualia analyze examples/transcripts/teams_en.vtt -p {plugin_id}"
    if kind == "document":
        return f"qualia process examples/transcripts/teams_en.vtt -p {plugin_id}"
    return f"qualia visualize examples/transcripts/teams_en.vtt -p {plugin_id} --format svg -o {plugin_id}.svg"


def _role(path: Path, plugin_id: str) -> str:
    return {
        "plugin.toml": "the manifest: id, version, kind, command, parameters",
        "plugin.py": "the plugin (Python SDK)",
        "plugin.js": "the plugin",
        "qualia.js": "the qualia/1 protocol for Node.js (no dependencies)",
        "plugin.test.js": "its tests (`node --test`)",
        f"test_{plugin_id}.py": "its tests (pytest, with the qualia fixtures)",
        "pyproject.toml": "the distribution: entry point `qualia.plugins`, plugin.toml as package data",
        "__init__.py": "the package the entry point names",
    }.get(path.name, "")
