"""The README's plugin example and a plugin in another language work as documented."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qualia.kernel import Kernel
from qualia.plugin_sdk import Document
from tests.conftest import FIXTURES, PROJECT

QUALIA = str(Path(sys.executable).parent / "qualia")


def test_readme_plugin_example_runs_through_the_cli(tmp_path):
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Writing a plugin.*?```python\n(.*?)```", readme, re.S).group(1)
    folder = tmp_path / "plugins" / "shout"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(code, encoding="utf-8")
    (folder / "plugin.toml").write_text('id = "shout"\nname = "Shout"\nversion = "1.0.0"\nkind = "analyzer"\n'
                                        'command = ["{python}", "plugin.py"]\n', encoding="utf-8")
    env = {**os.environ, "QUALIA_HOME": str(tmp_path / "home"), "QUALIA_PLUGIN_PATH": str(tmp_path / "plugins")}

    done = subprocess.run([QUALIA, "analyze", "-", "-p", "shout", "--json"], input="ação", capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"upper": "AÇÃO"}

    empty = subprocess.run([QUALIA, "analyze", "-", "-p", "shout"], input="", capture_output=True, text=True,
                           env=env, timeout=60)  # refused by the readers before the plugin's own InputError
    assert empty.returncode == 2 and "stdin: the file is empty" in empty.stderr  # the caller's fault


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is part of every Debian base system")
async def test_a_plugin_in_perl_speaks_the_same_contract(fast_settings, plugin_dir):
    shutil.copytree(FIXTURES / "perl_plugin", plugin_dir / "perl_counter")
    async with Kernel(fast_settings) as kernel:
        outcome = await kernel.run("perl_counter", Document(text="três palavras aqui"))
        assert outcome.result == {"characters": 18, "words": 3}
        status = kernel.plugin_status("perl_counter")
        assert status.breaker.total_failures == 0
