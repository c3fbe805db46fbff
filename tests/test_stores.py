"""The three stores keep the same promises: leases, fencing tokens, fenced saves, typed errors."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from redis.asyncio import Redis

from pathors_async import ConversationBusy, LeaseLost, PathorsError, StoreError
from pathors_async.stores import ConversationStore, Lease, MemoryStore, RedisStore, SQLiteStore
from pathors_async.stores._protocol import check_key, check_seconds, decode, encode
from pathors_async.stores._waiting import Wakeups, backoff_delay

from .stores_support import redis_url, unique_prefix

__all__ = ["redis_url"]  # the fixture, imported for pytest

DATA = {"format": "pathors_async.conversation", "version": 1, "messages": [], "x": "é"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request, tmp_path):
    if request.param == "memory":
        made: ConversationStore = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "conversations.db")
    else:
        made = RedisStore(request.getfixturevalue("redis_url"), prefix=unique_prefix())
    yield made
    await made.aclose()


# ------------------------------------------------------------------ pure parts


def test_backoff_grows_with_jitter_and_never_passes_the_deadline():
    assert backoff_delay(1, 10, rand=lambda: 0.0) == 0.0025
    assert backoff_delay(1, 10, rand=lambda: 0.999999) == pytest.approx(0.005)
    assert backoff_delay(3, 10, rand=lambda: 0.0) == 0.01
    assert backoff_delay(60, 10, rand=lambda: 0.0) == 0.125  # capped at 0.25 s
    assert backoff_delay(60, 0.01, rand=lambda: 0.5) == 0.01
    assert backoff_delay(2, -1, rand=lambda: 0.5) == 0.0


@pytest.mark.parametrize(
    ("key", "error"),
    [(42, TypeError), ("", ValueError), ("a\x00b", ValueError), ("k" * 513, ValueError)],
)
def test_bad_keys_are_refused_with_what_to_do(key, error):
    with pytest.raises(error, match="conversation key"):
        check_key(key)


@pytest.mark.parametrize(
    ("value", "error"),
    [("1", TypeError), (True, TypeError), (-1, ValueError), (float("nan"), ValueError)],
)
def test_bad_durations_are_refused(value, error):
    with pytest.raises(error, match="ttl"):
        check_seconds("ttl", value)


def test_zero_is_a_valid_wait_but_not_a_ttl():
    assert check_seconds("wait", 0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="more than 0"):
        check_seconds("ttl", 0)


def test_data_round_trips_as_json_and_damaged_records_are_store_errors():
    assert decode("k", encode(DATA)) == DATA
    with pytest.raises(TypeError, match="JSON-safe"):
        encode({"x": object()})
    for damaged in (b"\xff", "[1]", "{", "[" * 100_000):
        with pytest.raises(StoreError, match="delete it") as info:
            decode("k", damaged)
        assert info.value.key == "k"


async def test_wakeups_wake_the_longest_waiter_first():
    wakeups = Wakeups()
    first = asyncio.ensure_future(wakeups.wait("k", 60))
    second = asyncio.ensure_future(wakeups.wait("k", 60))
    await asyncio.sleep(0)
    wakeups.notify("k")
    await first
    assert not second.done()
    wakeups.notify("other")  # nobody waits there: nothing happens
    wakeups.notify("k")
    await second
    assert wakeups._waiters == {}


# ------------------------------------------------------------------ every store


async def test_a_lease_excludes_others_until_released(store):
    lease = await store.acquire("k", ttl=30, wait=0)
    assert isinstance(store, ConversationStore)
    assert lease.key == "k"
    assert lease.data is None
    with pytest.raises(ConversationBusy, match="raise lock_wait") as info:
        await store.acquire("k", ttl=30, wait=0.05)
    assert info.value.key == "k"
    assert info.value.waited >= 0.05
    other = await store.acquire("other", ttl=30, wait=0)  # other keys are free
    await store.release(lease)
    again = await store.acquire("k", ttl=30, wait=0)
    assert again.token > lease.token
    await store.release(other)
    await store.release(again)


async def test_a_waiter_gets_the_lease_when_it_is_released(store):
    lease = await store.acquire("k", ttl=30, wait=0)
    waiter = asyncio.ensure_future(store.acquire("k", ttl=30, wait=30))
    await asyncio.sleep(0.02)  # let it fail once and start waiting (not needed for the result)
    assert not waiter.done()
    await store.release(lease)
    assert (await waiter).token > lease.token


async def test_save_load_delete_and_acquire_with_load(store):
    assert await store.load("k") is None
    lease = await store.acquire("k", ttl=30, wait=0, load=True)
    assert lease.data is None
    await store.save("k", DATA, lease)
    assert await store.load("k") == DATA
    await store.save("k", {**DATA, "x": 2}, lease, release=True)
    lease = await store.acquire("k", ttl=30, wait=0, load=True)
    assert lease.data == {**DATA, "x": 2}
    await store.delete("k")
    assert await store.load("k") is None
    await store.release(lease)
    await store.delete("never-saved")


async def test_a_save_with_a_stale_token_is_refused_and_writes_nothing(store):
    old = await store.acquire("k", ttl=30, wait=0)
    await store.save("k", DATA, old, release=True)
    new = await store.acquire("k", ttl=30, wait=0)
    with pytest.raises(LeaseLost, match="nothing was written") as info:
        await store.save("k", {**DATA, "x": "late"}, old)
    assert (info.value.key, info.value.token) == ("k", old.token)
    assert isinstance(info.value, StoreError)
    assert isinstance(info.value, PathorsError)
    assert await store.load("k") == DATA
    with pytest.raises(LeaseLost):
        await store.renew(old, ttl=30)
    await store.release(old)  # a stale release does not free the new holder's lease
    with pytest.raises(ConversationBusy):
        await store.acquire("k", ttl=30, wait=0)
    renewed = await store.renew(new, ttl=30)
    assert renewed.token == new.token
    assert renewed.expires_at >= new.expires_at
    await store.release(new)
    with pytest.raises(LeaseLost):
        await store.renew(new, ttl=30)  # released: nothing to renew


async def test_a_save_needs_the_lease_of_its_own_key(store):
    lease = await store.acquire("k", ttl=30, wait=0)
    with pytest.raises(ValueError, match="this lease is for 'k'"):
        await store.save("other", DATA, lease)
    with pytest.raises(TypeError, match="JSON-safe"):
        await store.save("k", {"x": object()}, lease)
    await store.release(lease)


async def test_a_cancelled_acquire_leaves_no_lease_behind(store):
    lease = await store.acquire("k", ttl=30, wait=0)
    waiter = asyncio.ensure_future(store.acquire("k", ttl=30, wait=30))
    await asyncio.sleep(0.02)
    waiter.cancel()
    await store.release(lease)  # the cancelled waiter's attempt goes on and gets it...
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # ...and gives it back, so a new caller gets it within its wait
    final = await store.acquire("k", ttl=30, wait=10)
    await store.release(final)


async def test_the_stores_say_what_they_are(store):
    assert type(store).__name__ in repr(store)


# ------------------------------------------------------------------ expiry


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_an_expired_lease_can_be_taken_and_its_saves_are_refused(kind, tmp_path):
    clock = Clock()
    store = (
        MemoryStore(clock=clock)
        if kind == "memory"
        else SQLiteStore(tmp_path / "c.db", clock=clock)
    )
    old = await store.acquire("k", ttl=10, wait=0)
    clock.now += 5
    with pytest.raises(ConversationBusy):
        await store.acquire("k", ttl=10, wait=0)
    clock.now += 6  # expired, but nobody took it: its holder may still save and renew
    await store.save("k", DATA, old)
    old = await store.renew(old, ttl=10)
    assert old.expires_at == clock.now + 10
    clock.now += 11
    new = await store.acquire("k", ttl=10, wait=0)
    with pytest.raises(LeaseLost):
        await store.save("k", {**DATA, "x": 1}, old, release=True)
    assert await store.load("k") == DATA
    await store.release(new)
    await store.aclose()


async def test_a_redis_lease_expires_on_the_server(redis_url):
    store = RedisStore(redis_url, prefix=unique_prefix(), idle_ttl=60)
    old = await store.acquire("k", ttl=0.05, wait=0)
    new = await store.acquire("k", ttl=30, wait=5)  # waits out the 50 ms
    assert new.token == old.token + 1
    with pytest.raises(LeaseLost):
        await store.save("k", DATA, old)
    await store.save("k", DATA, new, release=True)
    assert await store.load("k") == DATA
    await store.aclose()


async def test_redis_keys_live_under_the_prefix_with_the_idle_ttl(redis_url):
    prefix = unique_prefix()
    async with Redis.from_url(redis_url) as redis:
        store = RedisStore(client=redis, prefix=prefix, idle_ttl=100)
        lease = await store.acquire("user-1", ttl=30, wait=0)
        await store.save("user-1", DATA, lease, release=True)
        keys = sorted(key.decode() for key in await redis.keys(f"{prefix}*"))
        assert keys == [f"{prefix}{{user-1}}:data", f"{prefix}{{user-1}}:fence"]
        assert 0 < await redis.pttl(f"{prefix}{{user-1}}:data") <= 100_000
        await store.aclose()  # a given client is not closed
        assert await redis.ping()
    assert "a given client" in repr(store)


async def test_redis_calls_past_the_pool_size_wait_for_a_connection(redis_url):
    async def turn(store: RedisStore, key: str) -> None:
        lease = await store.acquire(key, ttl=30, wait=5, load=True)
        await store.save(key, DATA, lease, release=True)
        assert await store.load(key) == DATA

    store = RedisStore(redis_url, prefix=unique_prefix())  # the default pool
    await asyncio.gather(*(turn(store, f"k{i}") for i in range(300)))
    waits = await asyncio.gather(
        *(store.rate_limit_reserve(interval=0.001, tolerance=1) for _ in range(300))
    )
    assert all(wait >= 0 for wait in waits)
    await store.aclose()
    small = RedisStore(redis_url, prefix=unique_prefix(), max_connections=2)
    await asyncio.gather(*(turn(small, f"k{i}") for i in range(300)))
    await small.aclose()
    for bad in (0, True, "many"):
        with pytest.raises(ValueError, match="max_connections"):
            RedisStore(redis_url, max_connections=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ failures


async def test_redis_down_is_a_store_error_without_the_password():
    store = RedisStore("redis://user:s3cret-pw@127.0.0.1:9/0")
    assert "s3cret" not in repr(store)
    for call in (store.load("k"), store.acquire("k", ttl=1, wait=0)):
        with pytest.raises(StoreError, match="check that the server is up") as info:
            await call
        assert "s3cret" not in str(info.value)
    await store.aclose()


def test_redis_prefixes_may_not_pick_hash_slots():
    with pytest.raises(ValueError, match="braces"):
        RedisStore(prefix="app:{x}:")


def test_redis_store_without_redis_py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"pathors-async\[redis\]"):
        RedisStore()


async def test_sqlite_failures_are_store_errors_with_a_hint(tmp_path):
    store = SQLiteStore(tmp_path / "missing-dir" / "c.db")
    with pytest.raises(StoreError, match="check the path") as info:
        await store.load("k")
    assert isinstance(info.value.__cause__, sqlite3.Error)
    await store.aclose()
    with pytest.raises(RuntimeError, match="store is closed"):
        await store.load("k")
    await store.aclose()  # twice is fine


async def test_sqlite_busy_is_a_store_error_that_names_busy_timeout(tmp_path):
    path = tmp_path / "c.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.load("k")  # creates the schema
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="raise it"):
            await store.acquire("k", ttl=1, wait=0)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await store.aclose()


async def test_a_damaged_record_is_a_store_error(tmp_path):
    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    await store.load("k")
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO pathors_conversations VALUES ('k', 'not json', 7, 0, 1, 0)")
    with pytest.raises(StoreError, match="not a JSON object"):
        await store.load("k")
    with pytest.raises(StoreError, match="not a JSON object"):
        await store.acquire("k", ttl=1, wait=0, load=True)
    lease = await store.acquire("k", ttl=1, wait=0)  # the failed attempt left no lease
    await store.release(lease)
    await store.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_damaged_record_leaves_no_lease_and_can_be_deleted(kind, request):
    if kind == "memory":
        store: MemoryStore | RedisStore = MemoryStore()
        store._data["k"] = "not json"
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisStore(url, prefix=unique_prefix())
        async with Redis.from_url(url) as admin:
            await admin.set(store._keys("k")[2], b"not json")
    with pytest.raises(StoreError, match="not a JSON object"):
        await store.acquire("k", ttl=30, wait=0, load=True)
    lease = await store.acquire("k", ttl=30, wait=0)  # the failed attempt left no lease
    await store.delete("k")
    await store.release(lease)
    fresh = await store.acquire("k", ttl=30, wait=0, load=True)
    assert fresh.data is None
    await store.aclose()


def test_lease_repr_leaves_the_data_out():
    lease = Lease(key="k", token=3, expires_at=1.0, data={"secret": "x"})
    assert "secret" not in repr(lease)


def test_store_errors_sit_in_the_documented_tree():
    assert StoreError.__mro__[1] is PathorsError
    assert ConversationBusy.__mro__[1] is StoreError
    assert LeaseLost.__mro__[1] is StoreError


async def test_sqlite_writes_queued_together_share_a_transaction_but_not_a_failure(tmp_path):
    store = SQLiteStore(tmp_path / "c.db")
    stale = await store.acquire("a", ttl=30, wait=0)
    await store.save("a", DATA, stale, release=True)
    fresh = await store.acquire("a", ttl=30, wait=0)
    other = await store.acquire("b", ttl=30, wait=0)
    gate = threading.Event()
    blocker = asyncio.ensure_future(store._thread.run(gate.wait))  # holds the thread
    await asyncio.sleep(0)
    late = asyncio.ensure_future(store.save("a", {**DATA, "x": "late"}, stale))
    good = asyncio.ensure_future(store.save("b", DATA, other, release=True))
    await asyncio.sleep(0)  # both queued behind the blocker: one batch
    gate.set()
    await blocker
    with pytest.raises(LeaseLost):
        await late
    await good
    assert await store.load("a") == DATA  # the refused save wrote nothing...
    assert await store.load("b") == DATA  # ...and did not undo its neighbour's
    await store.release(fresh)
    await store.aclose()


async def test_a_worker_thread_stops_after_its_queued_calls(tmp_path):
    store = SQLiteStore(tmp_path / "c.db")
    await store.aclose()  # never started: nothing to stop
    store = SQLiteStore(tmp_path / "c.db")
    loads = [asyncio.ensure_future(store.load(f"k{n}")) for n in range(5)]
    await asyncio.sleep(0)
    await store.aclose()
    assert await asyncio.gather(*loads) == [None] * 5
