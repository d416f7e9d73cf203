"""`qualia backup`: consistent archives of a live QUALIA_HOME, verification, all-or-nothing restore, pruning.

The home is real: a `ResultCache` with entries, a job store with an
unfinished job, plugin state (one of them a SQLite file with an unusual name),
config and logs. The commands run through the same argparse code as `qualia`.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import msgspec
import pytest

import qualia.ops.backup.restore as backup_restore
from qualia.kernel.cache import ResultCache, cache_key
from qualia.kernel.settings import Settings
from qualia.ops.backup import (
    ARCHIVE_RE,
    MANIFEST_NAME,
    BackupManifest,
    VerifyReport,
    create_backup,
    list_backups,
)
from qualia.kernel.cli import build_parser, main

PROJECT = Path(__file__).resolve().parents[2]
BACKUP_SH = PROJECT / "scripts" / "backup.sh"
PRE_ENTRIES = 300

try:  # the job store is new; fall back to a plain jobs table while it is not there
    from qualia.kernel.jobs.spec import JobSpec
    from qualia.kernel.jobs.store import JobStore
    from qualia.plugin_sdk.document import Document
except ImportError:  # pragma: no cover
    JobStore = None  # type: ignore[assignment,misc]


# ---- a realistic QUALIA_HOME -------------------------------------------------------------

@dataclass
class Home:
    path: Path
    entries: dict[str, bytes]
    job_id: str

    @property
    def backups(self) -> Path:
        return self.path / "backups"


def add_unfinished_job(path: Path) -> str:
    """A running job with one of its two documents done, as a crash would leave it."""
    if JobStore is not None:
        with JobStore(path) as store:
            spec = JobSpec(kind="plugin", plugin="word_frequency",
                           documents=[Document(id="a", text="one"), Document(id="b", text="two")])
            job, _ = store.submit(spec)
            assert store.claim("runner-1", lease_s=30) is not None
            assert store.record_output(job.id, "runner-1", 0, True, b'{"index": 0}') is not None
            return job.id
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, done INTEGER NOT NULL)")
        db.execute("INSERT INTO jobs VALUES ('job-1', 'running', 1)")
    db.close()
    return "job-1"


def read_job(path: Path, job_id: str) -> tuple[str, int]:
    if JobStore is not None:
        with JobStore(path) as store:
            job = store.get(job_id)
            assert job is not None
            assert store.outputs(job_id) == [b'{"index": 0}']
            return job.state, job.done
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT state, done FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        db.close()


def make_home(root: Path) -> Home:
    home = root / "home"
    entries = {}
    with ResultCache(home / "cache.sqlite3") as cache:
        for i in range(PRE_ENTRIES):
            key = cache_key("word_frequency", "1.0.0", {"i": i}, {"text": f"document {i}"}, {})
            entries[key] = f"result {i} ".encode() * 40
            assert cache.put(key, "word_frequency", entries[key])
    job_id = add_unfinished_job(home / "jobs.sqlite3")
    (home / "config.toml").write_text('[server]\nport = 8000\n', encoding="utf-8")
    (home / "logs").mkdir()
    (home / "logs" / "qualia.log").write_text("started\n", encoding="utf-8")
    state = home / "plugins" / "sentiment_analyzer"
    state.mkdir(parents=True)
    (state / "state.json").write_text('{"lexicon": "leia"}', encoding="utf-8")
    odd = home / "plugins" / "teams_cleaner"
    odd.mkdir(parents=True)
    db = sqlite3.connect(odd / "index.bin")  # a database, though not named like one
    with db:
        db.execute("CREATE TABLE speakers (name TEXT)")
        db.execute("INSERT INTO speakers VALUES ('Ana')")
    db.close()
    (home / "fake.db").write_bytes(b"named like a database, but is not one")
    return Home(path=home, entries=entries, job_id=job_id)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.delenv("QUALIA_BACKUP_DIR", raising=False)
    return make_home(tmp_path)


@pytest.fixture
def qualia(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """`qualia --home HOME backup ...` through the real CLI (the command arrives by its entry point):
    (exit code, stdout, stderr)."""

    def run(home: Path, *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", str(home), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (but verification records) with its bytes."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and not path.name.endswith(".verify.json")}


def siblings(path: Path) -> set[str]:
    return {entry.name for entry in path.parent.iterdir()}


def extract(archive: Path, dest: Path) -> BackupManifest:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return msgspec.json.decode((dest / MANIFEST_NAME).read_bytes(), type=BackupManifest)


def repack(archive: Path, out: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Rewrite an archive member by member (valid gzip and tar), `change` editing or dropping (None) each."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            handle = src.extractfile(member)
            assert handle is not None
            data = change(member.name, handle.read())
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
    return out


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


WRITER = """
import sys
from pathlib import Path
from qualia.kernel.cache import ResultCache
stop = Path(sys.argv[2])
with ResultCache(sys.argv[1]) as cache:
    count = 0
    while not stop.exists():
        cache.put(f"live-{count}", "writer", bytes([count % 256]) * 4000)
        count += 1
        if count == 50:
            print("ready", flush=True)
print(count, flush=True)
"""


@pytest.fixture
def writer(home: Home, tmp_path: Path) -> Iterator[Callable[[], int]]:
    """Another process putting cache entries without pause; the callable stops it and returns its count."""
    stop = tmp_path / "stop-writer"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home.path / "cache.sqlite3"), str(stop)],
                            cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"

    def finish() -> int:
        stop.touch()
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        return int(out.split()[-1])

    yield finish
    if proc.poll() is None:
        stop.touch()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
    elif proc.stdout and not proc.stdout.closed:
        proc.stdout.close()


# ---- create ---------------------------------------------------------------------------------

def test_create_while_the_cache_is_written_gives_consistent_databases(home: Home, writer: Callable[[], int],
                                                                       qualia, tmp_path: Path) -> None:
    code, out, err = qualia(home.path, "backup", "create")
    written = writer()
    assert code == 0, err
    archive = Path(out.strip())
    assert archive.parent == home.backups and ARCHIVE_RE.match(archive.name)
    assert "backed up 7 files (3 SQLite databases)" in err
    assert not [p for p in home.backups.iterdir() if p.name.startswith(".tmp")]

    manifest = extract(archive, tmp_path / "x")
    data = tmp_path / "x" / "data"
    copy = data / "cache.sqlite3"
    assert integrity(copy) == "ok"
    with ResultCache(copy) as cache:
        for key, value in home.entries.items():  # everything present before the backup started
            assert cache.get(key) == value
        live = cache.stats().entries - PRE_ENTRIES
    assert 50 <= live <= written  # the writer's first 50 puts preceded the backup
    assert integrity(data / "jobs.sqlite3") == "ok"
    assert read_job(data / "jobs.sqlite3", home.job_id) == ("running", 1)

    kinds = {entry.path: entry.kind for entry in manifest.files}
    assert kinds == {"cache.sqlite3": "sqlite", "jobs.sqlite3": "sqlite", "plugins/teams_cleaner/index.bin": "sqlite",
                     "config.toml": "file", "fake.db": "file", "logs/qualia.log": "file",
                     "plugins/sentiment_analyzer/state.json": "file"}
    assert all(entry.integrity_check == "ok" for entry in manifest.databases)
    assert {entry.path for entry in manifest.skipped} >= {"cache.sqlite3-wal", "cache.sqlite3-shm"}  # live WAL
    assert manifest.format_version == 1 and manifest.hostname and manifest.qualia_version
    assert dt.datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00")).tzinfo is not None
    names = {path.relative_to(data).as_posix() for path in data.rglob("*") if path.is_file()}
    assert names == set(kinds)  # no -wal/-shm files, no backups inside the backup
    for entry in manifest.files:
        assert (data / entry.path).stat().st_size == entry.size


def test_create_refuses_a_missing_or_empty_home(tmp_path: Path, qualia) -> None:
    code, out, err = qualia(tmp_path / "nowhere", "backup", "create")
    assert code == 2 and out == "" and "does not exist" in err
    (tmp_path / "empty" / "backups").mkdir(parents=True)
    code, _, err = qualia(tmp_path / "empty", "backup", "create")
    assert code == 2 and "no files to back up" in err
    assert list((tmp_path / "empty" / "backups").iterdir()) == []


def test_create_skips_symlinks_and_uses_dir(home: Home, qualia, tmp_path: Path) -> None:
    (home.path / "link.toml").symlink_to(home.path / "config.toml")
    code, out, err = qualia(home.path, "backup", "create", "--dir", str(tmp_path / "elsewhere"))
    assert code == 0, err
    assert Path(out.strip()).parent == tmp_path / "elsewhere"
    assert "skipped link.toml: symbolic link" in err
    assert not home.backups.exists()


def test_two_backups_in_the_same_second_get_distinct_names(home: Home) -> None:
    when = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    first, second = (Path(create_backup(home.path, now=when).archive) for _ in range(2))
    assert (first.name, second.name) == ("qualia-backup-20250601T120000Z.tar.gz",
                                         "qualia-backup-20250601T120000Z-1.tar.gz")
    assert [row.name for row in list_backups(home.backups)] == [first.name, second.name]


def test_create_reports_a_database_that_was_already_damaged(home: Home, qualia) -> None:
    db = sqlite3.connect(home.path / "plugins" / "teams_cleaner" / "index.bin")
    with db:
        db.execute("CREATE TABLE turns (speaker TEXT, words INTEGER)")
        db.execute("CREATE INDEX by_speaker ON turns (speaker)")
        db.executemany("INSERT INTO turns VALUES (?, ?)", [(f"speaker {i}", i) for i in range(20)])
        db.execute("PRAGMA writable_schema = ON")  # the index no longer matches its table
        db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX by_speaker ON turns (words)' "
                   "WHERE name = 'by_speaker'")
    db.close()
    (home.path / "plugins" / "garbage.db").write_bytes(b"SQLite format 3\0" + b"\xff" * 5000)
    code, out, err = qualia(home.path, "backup", "create")
    assert code == 1
    archive = Path(out.strip())
    assert archive.parent == home.backups and archive.is_file()  # kept: it is a faithful copy
    assert "plugins/teams_cleaner/index.bin failed integrity_check" in err and "missing from index" in err
    assert "plugins/garbage.db failed integrity_check: unreadable by SQLite (file is not a database)" in err
    manifest = extract(archive, home.path.parent / "x")
    assert {entry.path for entry in manifest.files} >= {"cache.sqlite3", "jobs.sqlite3", "plugins/garbage.db"}
    code, out, err = qualia(home.path, "backup", "verify", str(archive))
    assert code == 0
    assert "already damaged when backed up" in err


# ---- restore ----------------------------------------------------------------------------------

def test_wipe_and_restore_brings_back_cache_entries_and_the_unfinished_job(home: Home, writer, qualia) -> None:
    code, out, err = qualia(home.path, "backup", "create")
    writer()
    assert code == 0, err
    archive = Path(out.strip())
    for entry in home.path.iterdir():  # disaster: all gone but the backups
        if entry != home.backups:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    code, out, err = qualia(home.path, "backup", "restore", archive.name)  # nothing to overwrite: no --force
    assert code == 0, err
    assert "restored 7 files" in out
    with ResultCache(home.path / "cache.sqlite3") as cache:
        for key, value in home.entries.items():
            assert cache.get(key) == value
    assert read_job(home.path / "jobs.sqlite3", home.job_id) == ("running", 1)
    assert (home.path / "plugins" / "sentiment_analyzer" / "state.json").read_text() == '{"lexicon": "leia"}'
    db = sqlite3.connect(home.path / "plugins" / "teams_cleaner" / "index.bin")
    assert db.execute("SELECT name FROM speakers").fetchall() == [("Ana",)]
    db.close()
    assert archive.exists()  # the backup folder was kept
    assert siblings(home.path) == {"home", "stop-writer"}  # no staging or old folder left


def test_restore_into_a_missing_home(home: Home, qualia, tmp_path: Path) -> None:
    backups = tmp_path / "offsite"
    code, out, _ = qualia(home.path, "backup", "create", "--dir", str(backups))
    assert code == 0
    before = tree(home.path)
    shutil.rmtree(home.path)
    code, out, err = qualia(home.path, "backup", "restore", "latest", "--dir", str(backups))
    assert code == 0, err
    after = tree(home.path)
    assert after.keys() == before.keys()
    for name, data in before.items():  # databases are copies of the same content, not of the same bytes
        if not data.startswith(b"SQLite format 3\0"):
            assert after[name] == data, name
    with ResultCache(home.path / "cache.sqlite3") as cache:
        assert cache.stats().entries == PRE_ENTRIES
    assert read_job(home.path / "jobs.sqlite3", home.job_id) == ("running", 1)


def test_restore_refuses_a_home_with_data_unless_forced(home: Home, qualia) -> None:
    code, out, _ = qualia(home.path, "backup", "create")
    archive = out.strip()
    with ResultCache(home.path / "cache.sqlite3") as cache:
        cache.put("after-backup", "p", b"new")
    (home.path / "new-file.txt").write_text("made after the backup")
    before = tree(home.path)

    code, out, err = qualia(home.path, "backup", "restore", archive)
    assert code == 2 and out == ""
    assert "not empty" in err and "--force" in err
    assert tree(home.path) == before

    code, out, err = qualia(home.path, "backup", "restore", archive, "--force")
    assert code == 0, err
    assert not (home.path / "new-file.txt").exists()
    with ResultCache(home.path / "cache.sqlite3") as cache:
        assert cache.get("after-backup") is None
        assert cache.stats().entries == PRE_ENTRIES
    assert Path(archive).exists()
    assert siblings(home.path) == {"home"}


def test_restore_refuses_an_archive_inside_the_home_it_replaces(home: Home, qualia) -> None:
    archive = Path(create_backup(home.path).archive)
    inside = home.path / archive.name
    shutil.copy(archive, inside)
    code, _, err = qualia(home.path, "backup", "restore", str(inside), "--force")
    assert code == 2 and "lies inside QUALIA_HOME" in err
    code, _, err = qualia(home.path, "backup", "create", "--dir", str(home.path))
    assert code == 2 and "must not be QUALIA_HOME itself" in err


def test_restore_refuses_while_a_process_has_a_database_open(home: Home, writer, qualia) -> None:
    code, out, _ = qualia(home.path, "backup", "create")
    code, _, err = qualia(home.path, "backup", "restore", out.strip(), "--force")
    writer()
    assert code == 1
    assert "stop the Qualia server" in err and "cache.sqlite3" in err


def test_restore_that_finds_damage_during_extraction_leaves_the_home_intact(home: Home, qualia, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = qualia(home.path, "backup", "create")
    damaged = repack(Path(out.strip()), tmp_path / "damaged.tar.gz",
                     lambda name, data: data.replace(b"leia", b"LEIA") if name.endswith("state.json") else data)
    # As if the archive went bad between the verification and the extraction:
    monkeypatch.setattr(backup_restore, "verify_backup",
                        lambda archive, record=True: VerifyReport(archive=str(archive), ok=True, problems=[]))
    before = tree(home.path)
    code, _, err = qualia(home.path, "backup", "restore", str(damaged), "--force")
    assert code == 1
    assert "damaged while it was extracted" in err and "state.json: checksum mismatch" in err
    assert tree(home.path) == before
    assert siblings(home.path) == {"home", "damaged.tar.gz"}


def test_restore_whose_final_rename_fails_rolls_back(home: Home, qualia, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = qualia(home.path, "backup", "create")
    (home.path / "config.toml").write_text("changed after the backup")
    before = tree(home.path)
    real_rename = os.rename

    def failing_rename(src: object, dst: object) -> None:
        if ".restore-" in str(src) and Path(str(dst)) == home.path:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    code, _, err = qualia(home.path, "backup", "restore", out.strip(), "--force")
    assert code == 1
    assert "restore failed" in err and "is unchanged" in err and "No space left" in err
    monkeypatch.undo()
    assert tree(home.path) == before  # the backups folder too, though it was moved into the new home
    assert (home.path / "config.toml").read_text() == "changed after the backup"
    assert siblings(home.path) == {"home"}


# ---- verify and list ----------------------------------------------------------------------------

@pytest.fixture
def archive(home: Home) -> Path:
    return Path(create_backup(home.path).archive)


def damage(archive: Path, how: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{how}.tar.gz"
    raw = bytearray(archive.read_bytes())
    if how == "flipped-middle":
        raw[len(raw) // 2] ^= 0x01
    elif how == "flipped-crc":
        raw[-6] ^= 0x80
    elif how == "truncated-half":
        del raw[len(raw) // 2:]
    elif how == "truncated-tail":
        del raw[-3:]
    elif how == "not-gzip":
        raw = bytearray(b"hello, not an archive")
    out.write_bytes(raw)
    return out


@pytest.mark.parametrize("how, expected", [
    ("flipped-middle", ("corrupt", "mismatch")),
    ("flipped-crc", ("gzip: CRC check failed",)),
    ("truncated-half", ("truncated",)),
    ("truncated-tail", ("truncated",)),
    ("not-gzip", ("gzip: Not a gzipped file",)),
])
def test_verify_detects_damage(archive: Path, how: str, expected: tuple[str, ...], qualia, home: Home,
                               tmp_path: Path) -> None:
    code, out, _ = qualia(home.path, "backup", "verify", str(archive))
    assert code == 0 and out.startswith("ok: ") and "7 files" in out
    bad = damage(archive, how, tmp_path)
    code, out, err = qualia(home.path, "backup", "verify", str(bad))
    assert code == 1 and out == ""
    assert f"{bad} failed verification" in err
    assert any(word in err for word in expected), err
    assert "Traceback" not in err


@pytest.mark.parametrize("change, expected", [
    (lambda name, data: None if name == MANIFEST_NAME else data, "MANIFEST.json is missing"),
    (lambda name, data: b"{not json" if name == MANIFEST_NAME else data, "MANIFEST.json is not a valid manifest"),
    (lambda name, data: None if name == "data/config.toml" else data,
     "config.toml: listed in the manifest but missing from the archive"),
    (lambda name, data: data.replace(b"8000", b"9000") if name == "data/config.toml" else data,
     "config.toml: checksum mismatch"),
    (lambda name, data: data + b"!" if name == "data/fake.db" else data, "fake.db: size mismatch"),
])
def test_verify_names_the_file_that_is_wrong(archive: Path, change, expected: str, qualia, home: Home,
                                             tmp_path: Path) -> None:
    bad = repack(archive, tmp_path / "bad.tar.gz", change)
    code, _, err = qualia(home.path, "backup", "verify", str(bad))
    assert code == 1
    assert expected in err


def test_verify_rejects_files_not_in_the_manifest(archive: Path, qualia, home: Home, tmp_path: Path) -> None:
    bad = tmp_path / "extra.tar.gz"
    repack(archive, bad, lambda name, data: data)
    with gzip.open(bad, "rb") as src:
        body = src.read()
    extra = io.BytesIO()
    with tarfile.open(fileobj=extra, mode="w") as tar:
        info = tarfile.TarInfo("data/planted.sh")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"boom"))
    # Drop the end-of-archive blocks, append the member, close again.
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        end = max(m.offset_data + ((m.size + 511) // 512) * 512 for m in tar.getmembers())
    bad.write_bytes(gzip.compress(body[:end] + extra.getvalue()))
    code, _, err = qualia(home.path, "backup", "verify", str(bad))
    assert code == 1
    assert "planted.sh: in the archive but not in the manifest" in err


def test_list_shows_date_size_files_and_verification(home: Home, qualia, tmp_path: Path) -> None:
    code, out, _ = qualia(home.path, "backup", "list")
    assert code == 0 and "no backups" in out
    first = Path(create_backup(home.path, now=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)).archive)
    second = Path(create_backup(home.path).archive)
    assert first.name == "qualia-backup-20250102T030405Z.tar.gz"
    assert qualia(home.path, "backup", "verify", first.name)[0] == 0

    code, out, _ = qualia(home.path, "backup", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ARCHIVE", "CREATED", "(UTC)", "SIZE", "FILES", "VERIFIED"]
    assert lines[1].startswith(first.name) and "2025-01-02T03:04:05Z" in lines[1] and " 7 " in lines[1]
    assert " ok " in lines[1]
    assert lines[2].startswith(second.name) and "unverified" in lines[2]

    raw = bytearray(second.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    second.write_bytes(raw)
    code, out, _ = qualia(home.path, "backup", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows[second.name]["verified"] == "unverified"
    assert qualia(home.path, "backup", "verify", "latest")[0] == 1
    rows = {row.name: row for row in list_backups(home.backups)}
    assert rows[second.name].verified == "failed"
    with open(first, "ab") as handle:  # modified after its verification
        handle.write(b"\0")
    assert {row.name: row for row in list_backups(home.backups)}[first.name].verified == "changed"


def test_unknown_archive_is_a_usage_error(home: Home, qualia) -> None:
    code, out, err = qualia(home.path, "backup", "verify", "nope.tar.gz")
    assert code == 2 and "no backup archive 'nope.tar.gz'" in err
    code, _, err = qualia(home.path, "backup", "restore", "latest")
    assert code == 2 and "no backup archives" in err


# ---- prune ----------------------------------------------------------------------------------------

def test_prune_removes_old_archives_and_keeps_recent_ones(home: Home, qualia) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    made = {days: Path(create_backup(home.path, now=now - dt.timedelta(days=days)).archive)
            for days in (45, 31, 29, 1, 0)}
    assert qualia(home.path, "backup", "verify", made[45].name)[0] == 0
    (home.backups / "notes.txt").write_text("not an archive")
    stale = home.backups / ".tmp-create-crashed"
    stale.mkdir()
    os.utime(stale, (0, 0))
    fresh = home.backups / ".tmp-create-running"
    fresh.mkdir()

    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30", "--dry-run")
    assert code == 0 and out.count("would remove") == 3
    assert all(path.exists() for path in made.values())

    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30")
    assert code == 0
    assert sorted(out.splitlines()) == sorted(f"removed {path}" for path in (made[45], made[31], stale))
    assert [path.exists() for path in made.values()] == [False, False, True, True, True]
    assert not (home.backups / made[45].name.replace(".tar.gz", ".verify.json")).exists()
    assert (home.backups / "notes.txt").exists() and fresh.exists()

    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30")
    assert code == 0 and out.startswith("nothing to prune")


def test_prune_keep_last_protects_the_newest(home: Home, qualia) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    made = [Path(create_backup(home.path, now=now - dt.timedelta(days=days)).archive) for days in (100, 90, 80)]
    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30", "--keep-last", "2")
    assert out.splitlines() == [f"removed {made[0]}"]
    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30")  # default: keep the newest
    assert out.splitlines() == [f"removed {made[1]}"]
    assert made[2].exists()
    code, out, _ = qualia(home.path, "backup", "prune", "--keep-days", "30", "--keep-last", "0")
    assert out.splitlines() == [f"removed {made[2]}"]


# ---- the command line and the cron script ------------------------------------------------------------

@pytest.mark.parametrize("sub", ["create", "list", "verify", "restore", "prune"])
def test_every_subcommand_has_help(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["backup", sub, "--help"])
    assert exited.value.code == 0
    assert f"qualia backup {sub}" in capsys.readouterr().out


def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["backup"], ["backup", "prune", "--keep-days", "-1"], ["backup", "verify"]):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(argv)
        assert exited.value.code == 2


def run_script(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUALIA_")}
    environ.update(QUALIA_HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}", **env)
    return subprocess.run(["bash", str(BACKUP_SH)], env=environ, capture_output=True, text=True, timeout=60)


def test_backup_script_creates_verifies_prunes_and_reports(home: Home) -> None:
    old = Path(create_backup(home.path, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=45)).archive)
    done = run_script(home.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # quiet for cron
    assert not old.exists()
    report = json.loads((home.backups / "backup-report.json").read_text())
    assert report["status"] == "ok" and report["failed_step"] is None
    archive = Path(report["archive"])
    assert archive.parent == home.backups and archive.exists()
    assert report["size_bytes"] == archive.stat().st_size
    assert report["verify"] == "ok" and report["pruned"] == 1 and report["disk_free_bytes"] > 0
    text = (home.backups / "backup-report.txt").read_text()
    assert "status: ok" in text and f"archive: {archive}" in text and "disk free bytes:" in text
    assert [row.verified for row in list_backups(home.backups)] == ["ok"]


def test_backup_script_fails_loudly(tmp_path: Path) -> None:
    done = run_script(tmp_path / "missing-home", QUALIA_BACKUP_DIR=str(tmp_path / "backups"),
                      QUALIA_BACKUP_KEEP_DAYS="7")
    assert done.returncode != 0
    assert "create failed" in done.stderr and "does not exist" in done.stderr
    report = json.loads((tmp_path / "backups" / "backup-report.json").read_text())
    assert report["status"] == "failed" and report["failed_step"] == "create" and report["archive"] is None
    assert not (tmp_path / "missing-home").exists()


def test_qualia_backup_is_wired_into_the_cli(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home.path), "backup", "create"]) == 0
    archive = capsys.readouterr().out.strip()
    assert main(["--home", str(home.path), "backup", "verify", archive]) == 0
    assert main(["--home", str(home.path), "backup", "restore", archive]) == 2
    assert "--force" in capsys.readouterr().err
