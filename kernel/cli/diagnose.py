"""`qualia doctor ID`: everything about one plugin an author needs when it does not work.

Where it was found (source and full path), what it declares (version, api,
kernel range), the hash of its code (part of every cache key), what discovery
said about it or about the folders around it, then a real start: the handshake,
the PID and the start time, or the reason and the plugin's stderr tail.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Any

import msgspec

from ..errors import QualiaError, UnknownPlugin
from ..kernel import Kernel
from ..versions import kernel_version
from .render import emit, to_json


async def doctor_one(args: argparse.Namespace, kernel: Kernel) -> int:
    registry = kernel.registry
    plugin_id = args.plugin_id
    try:
        manifest = registry.get(plugin_id)
    except UnknownPlugin as exc:
        if args.json:
            emit(to_json({"id": plugin_id, "ok": False, "reason": exc.message,
                          "problems": msgspec.to_builtins(registry.problems)}), None)
            return exc.exit_code
        lines = [f"FAIL  {exc.message}"]
        lines += [f"      discovery: {problem.path}: {problem.reason}" for problem in registry.problems
                  if problem.plugin != plugin_id]  # its own are in the message already
        lines.append(f"      searched: bundled plugins, QUALIA_PLUGIN_PATH "
                     f"{[str(path) for path in registry.search_paths] or '(not set)'}, entry points "
                     f"{'(on)' if registry.entry_points else '(off)'}")
        emit("\n".join(lines), None)
        return exc.exit_code
    source = registry.sources[manifest.id]
    report: dict[str, Any] = {
        "id": manifest.id, "version": manifest.version, "kind": manifest.kind, "api": manifest.api,
        "kernel": manifest.kernel or "any", "kernel_version": kernel_version(), "source": source.describe(),
        "path": manifest.path, "command": manifest.command, "code_hash": registry.code_hash(manifest.id),
        "shadowed": [f"{p.path}: {p.reason}" for p in registry.problems_of(manifest.id)],
    }
    started = asyncio.get_running_loop().time()
    try:
        status = await kernel.check(manifest.id)
    except QualiaError as exc:
        report.update(ok=False, reason=exc.message, stderr_tail=(exc.details.get("stderr_tail") or [])[-20:])
    else:
        pid = status.processes[0].pid if status.processes else None
        report.update(ok=True, pid=pid, start_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
                      stderr_tail=status.stderr_tail[-20:])
    if args.json:
        emit(to_json(report), None)
        return 0 if report["ok"] else 1
    lines = [f"{manifest.id} {manifest.version} ({manifest.kind})",
             f"  source:    {report['source']}",
             f"  path:      {manifest.path}",
             f"  command:   {' '.join(manifest.command)}",
             f"  api:       {manifest.api}; kernel {report['kernel']} (this is {report['kernel_version']})",
             f"  code hash: {report['code_hash']}"]
    lines += [f"  shadowed:  {item}" for item in report["shadowed"]]
    if report["ok"]:
        lines.append(f"OK    started in {report['start_ms']} ms (pid {report['pid']}); the handshake matches "
                     f"plugin.toml")
    else:
        lines.append(f"FAIL  {report['reason']}")
    lines += [f"      | {line}" for line in report["stderr_tail"]]
    if report["ok"]:
        lines.append(f"next: `qualia plugins check {manifest.id}` runs the whole contract on sample documents")
    emit("\n".join(lines), None)
    return 0 if report["ok"] else 1
