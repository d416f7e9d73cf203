"""Time the plugin author's path: run the quick start of docs/plugin-authoring.md exactly as written.

Run: .venv/bin/python scripts/walkthrough_authoring.py [--keep]

The block between the `quick-start` markers is run by bash in an empty folder,
with this environment's `qualia` first on PATH and a free port instead of 8000;
every command is timed (bash's xtrace with a clock), the server started in the
background is stopped at the end. Prints each command's time and the total, and
exits non-zero if any command fails or the pipeline answer lacks the plugin's
result. What it cannot measure is reading and typing: see the note it prints.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugin-authoring.md"
BLOCK = re.compile(r"<!-- quick-start:.*?-->\n```sh\n(.*?)```\n<!-- end quick-start -->", re.S)


def quick_start() -> str:
    match = BLOCK.search(GUIDE.read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"{GUIDE}: no quick-start block between the markers")
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    port = free_port()
    script = quick_start().replace("8000", str(port))
    work = Path(tempfile.mkdtemp(prefix="qualia-walkthrough-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUALIA_", "PYTEST_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", QUALIA_HOME=str(work / ".home"),
               QUALIA_ACCESS_LOG="0")
    # PS4 set inside: bash does not take it from the environment when run as root
    wrapped = (f"set -eu\nPS4='+@$(date +%s.%N)@ '\nset -x\n{script}\nset +x\n"
               "kill %1 2>/dev/null; wait 2>/dev/null || true\n")
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", wrapped], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    total = time.monotonic() - started
    stamps = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"^\++@([\d.]+)@ (.*)$", done.stderr, re.M)]
    print(f"quick start of {GUIDE.relative_to(ROOT)} in {work} (port {port}):")
    end = stamps[0][0] + total if stamps else 0.0
    for (at, command), (following, _) in zip(stamps, stamps[1:] + [(end, "")]):
        if not command.startswith(("set +x", "kill", "wait")):
            print(f"  {following - at:6.2f} s  {command[:100]}")
    print(f"total (commands only): {total:.1f} s, exit {done.returncode}")
    answer = done.stdout[done.stdout.find("{"):] if "{" in done.stdout else ""
    ok = done.returncode == 0
    try:
        steps = json.loads(answer)["steps"]
        print(f"last step: {steps[-1]['plugin']} -> {json.dumps(steps[-1].get('result'))}")
    except (ValueError, KeyError, IndexError):
        print("the pipeline answer is missing or not JSON:\n" + done.stdout[-2000:] + done.stderr[-3000:])
        ok = False
    print("note: reading the guide and typing these commands is the author's time on top of this")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
