"""How `RedisStore` talks to Redis: packed commands, its own connections, and their failures.

Against a real redis-server (``stores_support.redis_url``), made to forget its
scripts, drop connections, hold a command (``CLIENT PAUSE``); and against a raw
server that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from pathors_async import StoreError
from pathors_async.stores import RedisStore
from pathors_async.stores._redis import ACQUIRE, SAVE
from pathors_async.stores._redis_wire import LuaScript, pack

from .stores_support import cancel_while_redis_holds_it, redis_url, unique_prefix

__all__ = ["redis_url"]  # the fixture, imported for pytest

DATA = {"format": "pathors_async.conversation", "version": 1, "messages": [], "x": "é"}


def test_commands_are_packed_as_redis_py_packs_them():
    redis_py = Connection()
    keys, args = (b"P{k}:lease", "P{k}:fence", "P{k}:data"), (7, "é" * 3000, 0, 1)
    expected = b"".join(redis_py.pack_command("EVALSHA", SAVE.sha, 3, *keys, *args))
    assert SAVE.packed(keys, args) == expected
    expected = b"".join(redis_py.pack_command("EVAL", SAVE.source, 3, *keys, *args))
    assert SAVE.packed(keys, args, by_sha=False) == expected
    assert pack(b"GET", "k") == b"".join(redis_py.pack_command("GET", "k"))


def test_a_script_refuses_the_wrong_number_of_keys_or_arguments():
    script = LuaScript("return 1", keys=1, args=0)
    with pytest.raises(ValueError, match="takes 1 keys and 0 arguments, got 0 and 1"):
        script.packed((), (1,))


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


async def turn(store: RedisStore, key: str = "k") -> None:
    lease = await store.acquire(key, ttl=30, wait=5, load=True)
    await store.save(key, DATA, lease, release=True)


@pytest.mark.parametrize("given_client", [False, True])
async def test_scripts_the_server_forgot_are_sent_again(redis_url, admin, given_client):
    store = (
        RedisStore(client=admin, prefix=unique_prefix())
        if given_client
        else RedisStore(redis_url, prefix=unique_prefix())
    )
    await turn(store)
    await store.rate_limit_reserve(interval=0.001, tolerance=1)
    await admin.script_flush()  # as after a restart
    assert await admin.script_exists(ACQUIRE.sha) == [False]
    lease = await store.acquire("k", ttl=30, wait=0, load=True)
    assert lease.data == DATA
    await store.save("k", DATA, await store.renew(lease, ttl=30))
    await store.release(lease)
    assert await store.rate_limit_reserve(interval=0.001, tolerance=1) >= 0
    await store.rate_limit_pause(0.001, tolerance=0)
    assert await admin.script_exists(ACQUIRE.sha) == [True]
    await store.aclose()


@pytest.mark.parametrize("noticed", [True, False])
async def test_a_connection_the_server_dropped_is_made_again(redis_url, admin, noticed):
    store = RedisStore(redis_url + "?client_name=dropped", prefix=unique_prefix())
    await asyncio.gather(*(turn(store, f"k{n}") for n in range(5)))
    if noticed:  # the store sees the connection end while it is idle
        assert await admin.client_kill_filter(_type="normal", skipme=True) == 1
    else:  # killed with the event loop blocked: the next calls are written to the dead one
        with SyncRedis.from_url(redis_url) as blocking:
            assert blocking.client_kill_filter(_type="normal", skipme=True) == 1
    loaded = await asyncio.gather(*(store.load(f"k{n}") for n in range(5)))
    assert loaded == [DATA] * 5
    await store.aclose()


async def test_every_call_shares_one_pipelined_connection(redis_url, admin):
    store = RedisStore(redis_url + "?client_name=shared", prefix=unique_prefix())
    keys = [f"k{n}" for n in range(100)]
    await asyncio.gather(*(turn(store, key) for key in keys))
    assert await asyncio.gather(*(store.load(key) for key in keys)) == [DATA] * 100
    names = [client["name"] for client in await admin.client_list()]
    assert names.count("shared") == 1
    await store.aclose()
    names = [client["name"] for client in await admin.client_list()]
    assert names.count("shared") == 0  # closed with the store


async def test_a_call_cancelled_while_redis_holds_it_leaves_no_reply_behind(redis_url, admin):
    store = RedisStore(redis_url, prefix=unique_prefix())
    lease = await store.acquire("k", ttl=30, wait=0)
    await cancel_while_redis_holds_it(admin, store.save("k", DATA, lease))
    assert await store.load("other") is None  # not the cancelled call's reply
    lease = await store.acquire("other", ttl=30, wait=0, load=True)
    assert lease.data is None
    await store.release(lease)
    await store.aclose()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that accepts connections and never answers; its port."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_is_a_store_error_after_socket_timeout():
    async with silent_server() as port:
        store = RedisStore(f"redis://u:s3cret-pw@127.0.0.1:{port}/0?socket_timeout=0.1")
        for call in (store.acquire("k", ttl=1, wait=0), store.load("k")):
            with pytest.raises(StoreError, match=r"no reply within 0\.1 s") as info:
                await call
            assert "s3cret" not in str(info.value)
        await store.aclose()


def test_a_store_serves_one_event_loop_after_another(redis_url):
    store = RedisStore(redis_url + "?socket_timeout=2", prefix=unique_prefix())
    asyncio.run(turn(store))  # left open, as a script run twice might
    assert asyncio.run(store.load("k")) == DATA
    asyncio.run(store.aclose())


async def test_without_a_socket_timeout_calls_wait_as_long_as_it_takes(redis_url):
    store = RedisStore(redis_url + "?socket_timeout=0", prefix=unique_prefix())
    await turn(store)
    assert await store.load("k") == DATA
    await store.aclose()


async def test_an_error_reply_is_that_calls_store_error_only(redis_url, admin):
    store = RedisStore(redis_url, prefix=unique_prefix())
    await admin.hset(store._keys("k")[2], "not", "a string")
    results = await asyncio.gather(store.load("k"), store.load("other"), return_exceptions=True)
    assert isinstance(results[0], StoreError)
    assert "WRONGTYPE" in str(results[0])
    assert results[1] is None
    await store.aclose()


async def test_a_server_that_is_down_fails_every_waiting_call():
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", prefix=unique_prefix())
    results = await asyncio.gather(*(store.load(f"k{n}") for n in range(3)), return_exceptions=True)
    assert all(isinstance(result, StoreError) for result in results)
    await store.aclose()
