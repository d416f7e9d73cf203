"""The result cache: keys, hits, persistence, LRU bounds, sharing, bad files."""
from __future__ import annotations

import hashlib
import multiprocessing
import queue
import random
import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from qualia.kernel.cache import CacheError, CacheStats, ResultCache, cache_key
from qualia.plugin_sdk.document import Document, Segment


class FakeClock:
    """Wall-clock stand-in, so LRU order does not depend on timer resolution."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 10.0) -> None:
        self.now += seconds


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "cache.sqlite3"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(path: Path, clock: FakeClock) -> Iterator[ResultCache]:
    with ResultCache(path, max_bytes=1000, clock=clock) as opened:
        yield opened


def _document(**changes: object) -> Document:
    fields: dict[str, object] = {
        "id": "interview-1",
        "text": "Ana: bom dia. Bob: good morning.",
        "language": "auto",
        "metadata": {"source": "teams", "tags": ["a", "b"]},
        "segments": [
            Segment(text="bom dia.", speaker="Ana", start=0.0, end=1.5),
            Segment(text="good morning.", speaker="Bob", start=1.5, end=3.0),
        ],
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


# ---- keys -------------------------------------------------------------------

BASE_KEY_ARGS: dict[str, object] = {
    "plugin_id": "word_frequency",
    "plugin_version": "1.0.0",
    "config": {"top_n": 50, "stopwords": True, "lang": {"pt": 1, "en": 2}},
    "document": _document(),
    "inputs": {"segments": [1, 2], "sentiment": {"score": 0.5}},
    "code_hash": "a" * 64,
}


def test_key_is_sha256_hex_and_deterministic() -> None:
    key = cache_key(**BASE_KEY_ARGS)  # type: ignore[arg-type]
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key(**BASE_KEY_ARGS) == key  # type: ignore[arg-type]


def test_key_ignores_dict_order_at_every_level() -> None:
    reordered = dict(
        BASE_KEY_ARGS,
        config={"lang": {"en": 2, "pt": 1}, "stopwords": True, "top_n": 50},
        inputs={"sentiment": {"score": 0.5}, "segments": [1, 2]},
        document=_document(metadata={"tags": ["a", "b"], "source": "teams"}),
    )
    assert cache_key(**reordered) == cache_key(**BASE_KEY_ARGS)  # type: ignore[arg-type]
    assert cache_key("p", "1", {"a": 1, "b": 2}, "t", {}) == cache_key("p", "1", {"b": 2, "a": 1}, "t", {})


def test_key_is_the_same_for_a_document_and_its_builtin_form() -> None:
    as_dict = dict(BASE_KEY_ARGS, document=msgspec.to_builtins(_document()))
    assert cache_key(**as_dict) == cache_key(**BASE_KEY_ARGS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"plugin_id": "sentiment"},
        {"plugin_version": "1.0.1"},
        {"config": {"top_n": 51, "stopwords": True, "lang": {"pt": 1, "en": 2}}},
        {"config": {"top_n": 50, "stopwords": False, "lang": {"pt": 1, "en": 2}}},
        {"config": {"top_n": 50, "stopwords": True, "lang": {"pt": 1, "en": 3}}},
        {"config": {"top_n": 50, "stopwords": True, "lang": {"pt": 1, "en": 2}, "extra": None}},
        {"document": _document(text="Ana: boa tarde. Bob: good morning.")},
        {"document": _document(language="pt")},
        {"document": _document(metadata={"source": "zoom", "tags": ["a", "b"]})},
        {"document": _document(segments=None)},
        {"document": _document(segments=[Segment(text="bom dia.", speaker="Bob", start=0.0, end=1.5)])},
        {"inputs": {"segments": [1, 3], "sentiment": {"score": 0.5}}},
        {"inputs": {"segments": [1, 2]}},
        {"code_hash": "b" * 64},  # the plugin's files changed without a version bump
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_key_changes_with_every_component(changes: dict[str, object]) -> None:
    changed = dict(BASE_KEY_ARGS, **changes)
    assert cache_key(**changed) != cache_key(**BASE_KEY_ARGS)  # type: ignore[arg-type]


def test_key_parts_cannot_run_into_each_other() -> None:
    assert cache_key("ab", "c", {}, "", {}) != cache_key("a", "bc", {}, "", {})


# ---- get / put --------------------------------------------------------------

def test_miss_then_hit(cache: ResultCache) -> None:
    assert cache.get("k") is None
    assert cache.put("k", "word_frequency", b'{"total": 3}') is True
    assert cache.get("k") == b'{"total": 3}'


def test_put_replaces_the_value_without_double_counting(cache: ResultCache) -> None:
    cache.put("k", "p", b"x" * 100)
    cache.put("k", "p", b"y" * 40)
    assert cache.get("k") == b"y" * 40
    stats = cache.stats()
    assert (stats.entries, stats.bytes) == (1, 40)


def test_survives_close_and_reopen(path: Path) -> None:
    with ResultCache(path) as first:
        first.put("k", "p", b"result")
    with ResultCache(path) as second:
        assert second.get("k") == b"result"
        stats = second.stats()
        assert (stats.entries, stats.bytes) == (1, 6)


def test_two_open_instances_see_each_others_writes(path: Path) -> None:
    with ResultCache(path) as one, ResultCache(path) as two:
        one.put("k", "p", b"v")
        assert two.get("k") == b"v"


# ---- bounds and LRU ---------------------------------------------------------

def test_eviction_removes_least_recently_used_not_least_recently_inserted(
    cache: ResultCache, clock: FakeClock
) -> None:
    for i in range(10):  # exactly max_bytes: nothing evicted yet
        cache.put(f"k{i}", "p", bytes([i]) * 100)
        clock.tick()
    assert cache.stats().evictions == 0
    assert cache.get("k0") is not None  # the oldest insert is now the newest use
    clock.tick()
    cache.put("k10", "p", b"n" * 100)  # 1100 > 1000: evict down to 90%

    assert cache.get("k0") == bytes([0]) * 100
    assert cache.get("k1") is None and cache.get("k2") is None
    assert all(cache.get(f"k{i}") is not None for i in range(3, 11))
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (9, 900, 2)


def test_a_hit_refreshes_at_most_once_per_touch_interval(cache: ResultCache, clock: FakeClock) -> None:
    """Keeps most hits read-only; an LRU time under a second stale is harmless."""
    for i in range(10):  # k0 at t, ..., k9 at t + 0.9
        cache.put(f"k{i}", "p", b"x" * 100)
        clock.tick(0.1)
    clock.tick(-0.05)
    assert cache.get("k0") is not None  # 0.95 s old: not rewritten, still the LRU
    cache.put("k10", "p", b"x" * 100)
    assert cache.get("k0") is None and cache.get("k1") is None

    clock.tick(0.5)
    assert cache.get("k2") is not None  # 1.25 s old: rewritten
    cache.put("k11", "p", b"x" * 100)
    cache.put("k12", "p", b"x" * 100)
    assert cache.get("k2") is not None
    assert cache.get("k3") is None and cache.get("k4") is None


def test_value_larger_than_max_bytes_is_not_stored(cache: ResultCache) -> None:
    cache.put("small", "p", b"s" * 10)
    assert cache.put("huge", "p", b"h" * 1001) is False
    assert cache.get("huge") is None
    assert cache.get("small") == b"s" * 10
    assert cache.put("exact", "p", b"e" * 1000) is True


def test_a_big_value_evicts_others_but_never_itself(cache: ResultCache, clock: FakeClock) -> None:
    for i in range(9):
        cache.put(f"k{i}", "p", b"x" * 100)
        clock.tick()
    cache.put("big", "p", b"b" * 950)
    assert cache.get("big") == b"b" * 950
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (1, 950, 9)


# ---- clear and stats ---------------------------------------------------------

def test_clear_one_plugin_then_all(cache: ResultCache) -> None:
    for i in range(3):
        cache.put(f"a{i}", "alpha", b"a" * 10)
    for i in range(2):
        cache.put(f"b{i}", "beta", b"b" * 20)

    assert cache.clear("alpha") == 3
    assert cache.get("a0") is None and cache.get("b0") == b"b" * 20
    assert (cache.stats().entries, cache.stats().bytes) == (2, 40)
    assert cache.clear("nobody") == 0
    assert cache.clear() == 2
    assert (cache.stats().entries, cache.stats().bytes) == (0, 0)


def test_stats_count_this_instances_hits_misses_and_evictions(
    path: Path, cache: ResultCache, clock: FakeClock
) -> None:
    cache.get("absent")
    cache.put("k", "p", b"v" * 600)
    cache.get("k")
    cache.get("k")
    clock.tick()
    cache.put("k2", "p", b"w" * 600)  # evicts k

    stats = cache.stats()
    assert stats == CacheStats(
        entries=1, bytes=600, max_bytes=1000, hits=2, misses=1, evictions=1, path=str(path)
    )
    assert msgspec.json.decode(msgspec.json.encode(stats), type=CacheStats) == stats
    with ResultCache(path, max_bytes=5000) as other:  # counters are per instance, totals shared
        assert (other.stats().hits, other.stats().entries, other.stats().max_bytes) == (0, 1, 5000)


def test_max_bytes_must_be_positive(path: Path) -> None:
    with pytest.raises(ValueError):
        ResultCache(path, max_bytes=0)


def test_close_is_idempotent_and_use_after_close_is_a_cache_error(path: Path) -> None:
    cache = ResultCache(path)
    cache.close()
    cache.close()
    with pytest.raises(CacheError, match="closed"):
        cache.get("k")


# ---- bad files --------------------------------------------------------------

def test_a_corrupt_file_is_moved_aside_and_a_fresh_cache_starts(path: Path, caplog) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"\x00garbage, not a database\xff" * 200
    path.write_bytes(garbage)
    with ResultCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", "p", b"v")
        assert cache.get("k") == b"v"
    (aside,) = path.parent.glob("cache.sqlite3.corrupt-*")
    assert aside.read_bytes() == garbage  # kept for whoever wants to look, never deleted
    assert f"moved it to {aside}" in caplog.text and str(path) in caplog.text


def test_foreign_sqlite_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    with pytest.raises(CacheError, match="not a Qualia result cache") as caught:
        ResultCache(path)
    assert str(path) in str(caught.value)


def test_newer_schema_version_is_refused(path: Path) -> None:
    ResultCache(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CacheError, match="schema version 99") as caught:
        ResultCache(path)
    assert str(path) in str(caught.value)


def test_file_is_in_wal_mode_with_the_current_schema_version(path: Path) -> None:
    ResultCache(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


# ---- several processes ---------------------------------------------------------

WORKERS = 4
ROUNDS = 300
SHARED_KEYS = 40
SHARED_MAX_BYTES = 64 * 1024  # far below what the workers write: constant eviction


def _value_for(key: str) -> bytes:
    """Content-addressed: every process derives the same value from a key."""
    digest = hashlib.sha256(key.encode()).digest()
    return digest * (8 + digest[0] % 56)  # 256 to 2 KB


def _all_keys() -> list[str]:
    shared = [f"shared-{i}" for i in range(SHARED_KEYS)]
    private = [f"w{w}-{i}" for w in range(WORKERS) for i in range(ROUNDS)]
    return shared + private


def _worker(path: str, worker: int, barrier: object, results: object) -> None:
    try:
        barrier.wait()  # type: ignore[attr-defined]  # all open a fresh file at once
        rng = random.Random(worker)
        with ResultCache(Path(path), max_bytes=SHARED_MAX_BYTES, touch_interval=0.0, busy_timeout=30.0) as cache:
            for i in range(ROUNDS):
                own = f"w{worker}-{i}"
                shared = f"shared-{rng.randrange(SHARED_KEYS)}"
                cache.put(own, f"plugin{worker}", _value_for(own))
                if cache.get(shared) is None:
                    cache.put(shared, "shared", _value_for(shared))
                for key in (own, shared, f"w{rng.randrange(WORKERS)}-{rng.randrange(i + 1)}"):
                    got = cache.get(key)
                    assert got is None or got == _value_for(key), f"wrong value for {key}"
                if i % 100 == 99:
                    cache.clear(f"plugin{worker}")
                    cache.stats()
        results.put((worker, "ok"))  # type: ignore[attr-defined]
    except BaseException:
        results.put((worker, traceback.format_exc()))  # type: ignore[attr-defined]
        raise


@pytest.mark.timeout(120)
def test_several_processes_share_one_file(path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(str(path), worker, barrier, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes: dict[int, str] = {}
    try:
        for _ in processes:
            worker, outcome = results.get(timeout=90)
            outcomes[worker] = outcome
    except queue.Empty:
        pass
    for process in processes:
        process.join(timeout=30)
    assert outcomes == {worker: "ok" for worker in range(WORKERS)}, outcomes
    assert [process.exitcode for process in processes] == [0] * WORKERS
    results.close()
    results.join_thread()

    with ResultCache(path, max_bytes=SHARED_MAX_BYTES) as cache:
        stored = {key: cache.get(key) for key in _all_keys()}
        present = {key: value for key, value in stored.items() if value is not None}
        assert all(value == _value_for(key) for key, value in present.items())
        stats = cache.stats()
        # The trigger-kept totals match the rows actually there.
        assert stats.entries == len(present)
        assert stats.bytes == sum(len(value) for value in present.values())
        assert 0 < stats.bytes <= SHARED_MAX_BYTES
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
