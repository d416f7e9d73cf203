"""The ledger of plugin process groups under QUALIA_HOME.

A kernel killed with SIGKILL runs no code: its plugins die with it
(PR_SET_PDEATHSIG), but their own children live on. Each kernel therefore keeps
a small file naming itself and its plugins' process groups, and a kernel that
starts on the same home kills what a dead predecessor left. A process is
killed only if it is still in a recorded group *and* carries the dead kernel's
`QUALIA_KERNEL_ID` in its environment, so a reused group id never hits a
stranger.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
from pathlib import Path

import msgspec
import psutil

from .reaper import collect

log = logging.getLogger("qualia.process")

KERNEL_ID_VARIABLE = "QUALIA_KERNEL_ID"


class LedgerRecord(msgspec.Struct, kw_only=True):
    kernel_id: str
    pid: int
    started: float  # the kernel process's start time, so a reused pid is not taken for it
    pgids: list[int] = []


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


COMPACT_AT = 64 * 1024  # bytes of +/- lines before the file is rewritten with the live groups only


def read_record(path: Path) -> LedgerRecord:
    """A ledger file: the kernel as JSON on the first line, then `+PGID` / `-PGID` lines as groups come and go."""
    head, _, body = path.read_bytes().partition(b"\n")
    record = msgspec.json.decode(head, type=LedgerRecord)
    live = dict.fromkeys(record.pgids)
    for line in body.split():
        if not line[1:].isdigit():
            continue  # a line being written right now
        if line[:1] == b"+":
            live[int(line[1:])] = None
        elif line[:1] == b"-":
            live.pop(int(line[1:]), None)
    record.pgids = list(live)
    return record


class GroupLedger:
    """This kernel's record: one line appended whenever a plugin process group starts or is reaped."""

    def __init__(self, folder: Path, kernel_id: str | None = None) -> None:
        self.folder = folder
        self.kernel_id = kernel_id or secrets.token_hex(8)
        self.path = folder / f"kernel-{self.kernel_id}.json"
        self._record = LedgerRecord(kernel_id=self.kernel_id, pid=os.getpid(), started=_start_time(os.getpid()) or 0)
        self._live: dict[int, None] = {}
        self._fd: int | None = None
        self._written = 0
        self._rewrite()

    @property
    def environment(self) -> dict[str, str]:
        """What every plugin process of this kernel carries, so its processes can be told apart."""
        return {KERNEL_ID_VARIABLE: self.kernel_id}

    def add(self, pgid: int) -> None:
        self._live[pgid] = None
        self._append(b"+%d\n" % pgid)

    def discard(self, pgid: int) -> None:
        if self._live.pop(pgid, 0) is None:
            self._append(b"-%d\n" % pgid)

    def close(self) -> None:
        self._live.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", self.path, exc)

    def _append(self, line: bytes) -> None:
        if self._fd is None:
            return
        if self._written > COMPACT_AT:
            self._rewrite()
            return
        try:
            self._written += os.write(self._fd, line)
        except OSError as exc:
            self._give_up(exc)

    def _rewrite(self) -> None:
        """Write the header and the live groups to a new file, atomically, and append to it from now on."""
        self._record.pgids = list(self._live)
        temporary = self.path.with_suffix(".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(msgspec.json.encode(self._record) + b"\n")
            os.replace(temporary, self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            self._give_up(exc)
            return
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._written = fd, 0

    def _give_up(self, exc: OSError) -> None:
        """A read-only home must not stop plugins from running."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        log.warning("cannot record plugin process groups in %s (%s): a killed kernel's leftovers will not be "
                    "cleaned up at the next start", self.folder, exc)


def ours(pid: int, kernel_id: str) -> bool:
    """True when the process carries the marker of kernel `kernel_id` in its environment."""
    try:
        return psutil.Process(pid).environ().get(KERNEL_ID_VARIABLE) == kernel_id
    except psutil.Error:
        return False


def leftovers(record: LedgerRecord) -> list[int]:
    """The processes still in the record's groups that carry its kernel's marker."""
    groups = set(record.pgids)
    found = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) in groups and ours(pid, record.kernel_id):
                found.append(pid)
        except ProcessLookupError:
            continue
    return found


async def reap_leftovers(folder: Path) -> int:
    """Kill what dead kernels recorded in `folder` left behind; return how many processes were killed."""
    killed = 0
    for path in sorted(folder.glob("kernel-*.json")):
        try:
            record = read_record(path)
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("ignoring the unreadable ledger %s: %s", path, exc)
            path.unlink(missing_ok=True)
            continue
        started = _start_time(record.pid)
        if started is not None and abs(started - record.started) < 0.01:
            continue  # that kernel is alive: its processes are its own business
        victims = leftovers(record)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        if victims:
            killed += len(victims)
            log.warning("killed %d process(es) left by kernel %s (pid %d), which died without stopping them",
                        len(victims), record.kernel_id, record.pid)
            mine = {child.pid for child in psutil.Process().children()}
            await collect([pid for pid in victims if pid in mine])
        path.unlink(missing_ok=True)
    return killed
