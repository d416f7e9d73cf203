"""The ledger under QUALIA_HOME/run: what a dead kernel recorded is killed only when the process is
still in a recorded group and carries that kernel's id; a live kernel's record is left alone."""
from __future__ import annotations

import os
import subprocess
import time

import msgspec
import psutil
import pytest

from qualia.kernel.process import KERNEL_ID_VARIABLE, GroupLedger, reap_leftovers
from qualia.kernel.process.ledger import LedgerRecord, read_record
from tests.kernel.process_support import until


@pytest.fixture
def sleeper():
    """`sleep 1000` leading its own process group, with or without a kernel's marker."""
    started: list[subprocess.Popen] = []

    def start(marker: str | None) -> subprocess.Popen:
        env = dict(os.environ)
        if marker:
            env[KERNEL_ID_VARIABLE] = marker
        proc = subprocess.Popen(["sleep", "1000"], env=env, start_new_session=True)
        started.append(proc)
        # Popen returns once exec began; /proc/PID/environ shows the new environment a moment later.
        deadline = time.monotonic() + 5
        while psutil.Process(proc.pid).environ().get(KERNEL_ID_VARIABLE) != marker and marker:
            assert time.monotonic() < deadline, "the sleeper never showed its environment"
            time.sleep(0.001)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def write_record(folder, kernel_id: str, pgids: list[int], *, alive: bool = False):
    me = psutil.Process()
    record = LedgerRecord(kernel_id=kernel_id, pid=me.pid, started=me.create_time() if alive else 1.0, pgids=pgids)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kernel-{kernel_id}.json"
    path.write_bytes(msgspec.json.encode(record))
    return path


def running(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


async def test_a_dead_kernels_marked_processes_are_killed(tmp_path, sleeper):
    proc = sleeper("deadbeef")
    path = write_record(tmp_path, "deadbeef", [proc.pid])
    assert await reap_leftovers(tmp_path) == 1
    await until(lambda: not running(proc), what="the leftover to die")
    assert not path.exists()


async def test_a_stranger_in_a_recorded_group_is_not_killed(tmp_path, sleeper):
    stranger = sleeper(None)  # the group id was reused by a process that is not ours
    other = sleeper("another-kernel")
    path = write_record(tmp_path, "deadbeef", [stranger.pid, other.pid])
    assert await reap_leftovers(tmp_path) == 0
    assert running(stranger) and running(other)
    assert not path.exists(), "the dead kernel's record is done with"


async def test_a_live_kernels_record_is_left_alone(tmp_path, sleeper):
    proc = sleeper("alive-kernel")
    path = write_record(tmp_path, "alive-kernel", [proc.pid], alive=True)
    assert await reap_leftovers(tmp_path) == 0
    assert running(proc) and path.exists()


async def test_an_unreadable_record_is_dropped(tmp_path, caplog):
    tmp_path.joinpath("kernel-broken.json").write_text("{not json")
    assert await reap_leftovers(tmp_path) == 0
    assert not tmp_path.joinpath("kernel-broken.json").exists()
    assert "unreadable ledger" in caplog.text


def test_the_ledger_records_groups_as_they_come_and_go(tmp_path):
    ledger = GroupLedger(tmp_path / "run")
    assert ledger.environment == {KERNEL_ID_VARIABLE: ledger.kernel_id}
    ledger.add(101)
    ledger.add(202)
    ledger.discard(101)
    record = read_record(ledger.path)
    assert record.pgids == [202] and record.pid == os.getpid() and record.kernel_id == ledger.kernel_id
    ledger.close()
    assert not ledger.path.exists()


def test_a_long_lived_kernels_record_stays_small(tmp_path, monkeypatch):
    monkeypatch.setattr("qualia.kernel.process.ledger.COMPACT_AT", 100)
    ledger = GroupLedger(tmp_path / "run")
    for pgid in range(1000, 1300):
        ledger.add(pgid)
        if pgid % 3:
            ledger.discard(pgid)
    assert ledger.path.stat().st_size < 1000, "300 groups came and went: compacted, not 3 kB of lines"
    assert read_record(ledger.path).pgids == [pgid for pgid in range(1000, 1300) if pgid % 3 == 0]
    ledger.close()


def test_a_line_being_written_is_skipped(tmp_path):
    path = write_record(tmp_path, "deadbeef", [7])
    path.write_bytes(path.read_bytes() + b"\n+8\n-7\n+9")  # "+9" may still be growing: "+91"...
    assert read_record(path).pgids == [8, 9]
    path.write_bytes(path.read_bytes() + b"\n+")
    assert read_record(path).pgids == [8, 9]


def test_an_unwritable_home_only_disables_the_ledger(tmp_path, caplog):
    blocker = tmp_path / "run"
    blocker.write_text("a file where the folder should be")
    ledger = GroupLedger(blocker)
    ledger.add(101)
    ledger.add(202)
    assert caplog.text.count("cannot record plugin process groups") == 1
