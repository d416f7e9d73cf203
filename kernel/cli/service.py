"""Commands around the kernel's state: `version`, `cache`, `doctor`, `serve`."""
from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import msgspec

from qualia.plugin_sdk.manifest import Manifest

from .. import __version__
from ..cache import ResultCache
from ..errors import QualiaError
from ..kernel import Kernel
from ..settings import Settings
from .command import Command, Subcommands, with_kernel
from .diagnose import doctor_one
from .render import emit, render_human, to_json


def add_version_parser(commands: Subcommands) -> argparse.ArgumentParser:
    return commands.add_parser("version", help="print the version", description="Print the Qualia Core version.")


def version(args: argparse.Namespace, settings: Settings) -> int:
    print(f"qualia-core {__version__}")
    return 0


def add_cache_parser(commands: Subcommands) -> argparse.ArgumentParser:
    cache = commands.add_parser("cache", help="inspect or clear the result cache",
                                description="The result cache lives in QUALIA_HOME/cache.sqlite3.")
    sub = cache.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")
    stats = sub.add_parser("stats", help="entries, size, limit", description="Show cache statistics.")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    clear = sub.add_parser("clear", help="delete cached results", description="Delete cached results.")
    clear.add_argument("--plugin", metavar="ID", help="only this plugin's results")
    return cache


def cache(args: argparse.Namespace, settings: Settings) -> int:
    with ResultCache(settings.cache_path, settings.cache_max_bytes) as results:
        if args.cache_command == "clear":
            removed = results.clear(args.plugin)
            print(f"removed {removed} cached result(s)" + (f" of {args.plugin}" if args.plugin else ""))
            return 0
        stats = results.stats()
    emit(to_json(stats) if args.json else "\n".join(render_human(msgspec.to_builtins(stats))), None)
    return 0


def add_doctor_parser(commands: Subcommands) -> argparse.ArgumentParser:
    doctor = commands.add_parser("doctor", help="start every plugin once and report",
                                 description="Start every plugin, check its handshake, report OK or the reason. "
                                             "With ID: where that plugin was found, its declared versions, code "
                                             "hash, and a start with its stderr.")
    doctor.add_argument("plugin_id", nargs="?", metavar="ID", help="diagnose this plugin only")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    return doctor


async def doctor(args: argparse.Namespace, kernel: Kernel) -> int:
    if args.plugin_id:
        return await doctor_one(args, kernel)

    async def probe(manifest: Manifest) -> dict[str, Any]:
        started = asyncio.get_running_loop().time()
        try:
            status = await kernel.check(manifest.id)
        except QualiaError as exc:
            tail = exc.details.get("stderr_tail") or []
            return {"id": manifest.id, "ok": False, "reason": exc.message, "stderr_tail": tail[-10:]}
        elapsed = asyncio.get_running_loop().time() - started
        pid = status.processes[0].pid if status.processes else None
        return {"id": manifest.id, "ok": True, "version": manifest.version, "pid": pid,
                "start_ms": round(elapsed * 1000, 1)}

    reports = await asyncio.gather(*(probe(m) for m in kernel.registry))
    problems = [{"path": p.path, "reason": p.reason} for p in kernel.registry.problems]
    healthy = all(r["ok"] for r in reports) and not problems
    if args.json:
        emit(to_json({"ok": healthy, "plugins": reports, "manifest_problems": problems}), None)
        return 0 if healthy else 1
    lines = []
    for report in reports:
        if report["ok"]:
            lines.append(f"OK    {report['id']} {report['version']} (pid {report['pid']}, "
                         f"started in {report['start_ms']} ms)")
        else:
            lines.append(f"FAIL  {report['id']}: {report['reason']}")
            lines += [f"      | {line}" for line in report["stderr_tail"]]
    lines += [f"FAIL  manifest {problem['path']}: {problem['reason']}" for problem in problems]
    lines.append("all plugins healthy" if healthy else "some plugins are broken")
    emit("\n".join(lines), None)
    return 0 if healthy else 1


def add_serve_parser(commands: Subcommands) -> argparse.ArgumentParser:
    serve = commands.add_parser("serve", help="run the REST service",
                                description="Serve the REST API (see GET /docs) until SIGTERM or SIGINT; in-flight "
                                            "requests finish (QUALIA_SHUTDOWN_TIMEOUT_S) and plugins shut down.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate (with --key)")
    serve.add_argument("--key", type=Path, metavar="PEM", help="TLS private key (with --cert)")
    serve.add_argument("--reload", action="store_true",
                       help="watch plugin folders; reload a changed plugin (manifest and processes) on save")
    serve.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                       help="run jobs (POST /jobs, webhooks) on a Dask cluster, one Qualia kernel per worker: local:N "
                            "starts N worker processes here, an address joins an existing scheduler (env "
                            "QUALIA_DASK_SCHEDULER, qualia.toml [batch] cluster; needs pip install "
                            "'qualia-core[dask]')")
    return serve


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from ..server import serve_main  # aiohttp is imported only for the service

    return serve_main(settings, args.host, args.port, cert=args.cert, key=args.key, reload=args.reload)


VERSION = Command("version", add_version_parser, version)
CACHE = Command("cache", add_cache_parser, cache)
DOCTOR = Command("doctor", add_doctor_parser, with_kernel(doctor))
SERVE = Command("serve", add_serve_parser, serve)
