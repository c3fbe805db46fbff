"""`RedisStore` against servers that misbehave: raw asyncio servers on 127.0.0.1 speaking RESP.

Each server answers the connection's handshake (``HELLO``, ``CLIENT``, ``SELECT``)
with ``+OK`` unless told otherwise, and every other command as its test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from pathors_async import StoreError
from pathors_async.stores import Lease, RedisStore

from .stores_support import redis_url, unique_prefix

__all__ = ["redis_url"]  # the fixture, imported for pytest

#: What a server answers a command with (None: nothing; b"": close the connection),
#: given the command's parts and the number of the connection (1 for the first).
Answer = Callable[[list[bytes], int], "bytes | None"]
HANDSHAKE = (b"HELLO", b"CLIENT", b"SELECT", b"AUTH")
BIG = 1 << 20
HANG_GUARD = 10  # seconds: only a hang reaches it


async def read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    parts = []
    for _ in range(int(line[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


@contextlib.asynccontextmanager
async def resp_server(answer: Answer) -> AsyncIterator[int]:
    """A server on 127.0.0.1 answering each command with `answer`; its port."""
    writers: list[asyncio.StreamWriter] = []
    serving: list[asyncio.Task[object]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None  # each connection is served by a task
        serving.append(task)
        number = len(writers)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while (command := await read_command(reader)) is not None:
                reply = answer(command, number)
                if reply == b"":
                    break
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
        # Each connection's task ends once its connection is closed; one still running
        # when the test's event loop ends would be cancelled, which Python 3.11 logs.
        if serving:
            await asyncio.wait(serving, timeout=HANG_GUARD)


def handshake_then(answer: Answer) -> Answer:
    def answering(command: list[bytes], number: int) -> bytes | None:
        if command[0].upper() in HANDSHAKE:
            return b"+OK\r\n"
        return answer(command, number)

    return answering


@contextlib.asynccontextmanager
async def deaf_server(started: asyncio.Event) -> AsyncIterator[int]:
    """A server that answers ``GET`` with nil, and stops reading at an argument over `BIG`.

    It sets `started` once it stops reading, as a hung server (``SIGSTOP``) would.
    """
    writers: list[asyncio.StreamWriter] = []
    readers: list[asyncio.StreamReader] = []  # kept: a reader let go of reads on unseen

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        readers.append(reader)
        while line := await reader.readline():
            command = []
            for _ in range(int(line[1:])):
                size = int((await reader.readline())[1:])
                if size > BIG:
                    started.set()
                    return
                command.append((await reader.readexactly(size + 2))[:-2])
            writer.write(b"_\r\n" if command[0] == b"GET" else b"+OK\r\n")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("ending", ["socket_timeout", "aclose"])
async def test_a_call_submitted_behind_a_stuck_write_is_bounded_too(ending):
    started = asyncio.Event()
    async with deaf_server(started) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=0.2")
        lease = Lease(key="big", token=1, expires_at=time.time() + 60)
        assert await store.load("warm") is None  # the connection is open
        big = asyncio.ensure_future(store.save("big", {"text": "x" * (32 * BIG)}, lease))
        await started.wait()  # the big write is under way, and the server reads no more
        behind = asyncio.ensure_future(store.load("k"))
        if ending == "aclose":
            await asyncio.sleep(0)  # `behind` is submitted
            await store.aclose()
        with pytest.raises(StoreError):
            await asyncio.wait_for(big, HANG_GUARD)
        if ending == "aclose":
            with pytest.raises(StoreError, match="the store was closed"):
                await asyncio.wait_for(behind, HANG_GUARD)
        else:  # the stuck connection dropped, it goes out on a new one
            assert await asyncio.wait_for(behind, HANG_GUARD) is None
        await store.aclose()


@pytest.mark.parametrize(
    "where", [":hunter2%2Fpw@127.0.0.1:{port}/0?", "127.0.0.1:{port}/0?password=hunter2%2Fpw&"]
)
async def test_a_password_the_server_writes_back_is_not_in_the_store_error(where):
    def echo_auth(command: list[bytes], _number: int) -> bytes:
        name = command[0].upper()
        if name not in (b"AUTH", b"HELLO"):  # the command that carries the password
            return b"+OK\r\n"
        args = " ".join(f"'{part.decode()}'" for part in command[1:])
        said = f"unknown command '{name.decode()}', with args beginning with: {args} "
        return f"-ERR {said}\r\n".encode()

    async with resp_server(echo_auth) as port:
        store = RedisStore("redis://" + where.format(port=port) + "socket_timeout=5")
        with pytest.raises(StoreError, match=r"unknown command '(AUTH|HELLO)'") as info:
            await store.load("k")
        printed = "".join(traceback.format_exception(info.value))  # the whole chain
        assert "hunter2" not in f"{info.value!r} {info.value} {printed}"
        assert "hunter2" not in repr(info.value.__cause__)
        await store.aclose()


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        (lambda store: store.acquire("k", ttl=30, wait=5), b"*2\r\n:7\r\n_\r\n"),
        (lambda store: store.rate_limit_reserve(interval=1, tolerance=1), b":0\r\n"),
    ],
    ids=["acquire", "rate_limit_reserve"],
)
async def test_a_call_not_safe_to_repeat_is_not_sent_again_after_its_reply_was_lost(call, reply):
    sent: list[int] = []

    def lose_the_first_reply(command: list[bytes], number: int) -> bytes | None:
        if command[0] == b"GET":
            return b"_\r\n"
        sent.append(number)
        return b"" if len(sent) == 1 else reply  # the first: run, but the connection cut

    async with resp_server(handshake_then(lose_the_first_reply)) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=5")
        assert await store.load("warm") is None  # the connection has served
        with pytest.raises(StoreError, match="failed"):
            await call(store)
        assert sent == [1]
        await store.aclose()


async def test_calls_failed_by_aclose_are_not_made_again(redis_url):
    store = RedisStore(redis_url + "?client_name=closing", prefix=unique_prefix())
    assert await store.load("warm") is None
    calls = [asyncio.ensure_future(store.load(f"k{n}")) for n in range(20)]
    await asyncio.sleep(0)  # each is submitted
    await store.aclose()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, StoreError) for result in results)
    assert "closed" in str(results[0])
    async with Redis.from_url(redis_url) as admin:
        names = [client["name"] for client in await admin.client_list()]
    assert names.count("closing") == 0


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        (lambda store: store.acquire("k", ttl=30, wait=0), b":1\r\n"),
        (lambda store: store.acquire("k", ttl=30, wait=0), b"*3\r\n:1\r\n:2\r\n:3\r\n"),
        (lambda store: store.acquire("k", ttl=30, wait=0), b"*2\r\n$3\r\nabc\r\n_\r\n"),
        (lambda store: store.acquire("k", ttl=30, wait=0), b"*2\r\n:1\r\n:5\r\n"),
        (lambda store: store.rate_limit_reserve(interval=1, tolerance=1), b"$3\r\nabc\r\n"),
        (lambda store: store.rate_limit_reserve(interval=1, tolerance=1), b"*1\r\n:1\r\n"),
    ],
)
async def test_a_reply_of_the_wrong_shape_is_a_store_error(call, reply):
    async with resp_server(handshake_then(lambda _command, _number: reply)) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=5")
        with pytest.raises(StoreError, match=r"reply to .* was not what it should be"):
            await call(store)
        await store.aclose()
