"""`RedisStore.acquire` runs without a task of its own, yet a cancelled caller keeps no lease.

A lease taken for a caller that was cancelled (while Redis held the call, or in the very
loop iteration its reply was handed over) is given back at once, not left for `lock_ttl`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pathors_async.stores import Lease, RedisStore
from pathors_async.stores._redis import ACQUIRE, RELEASE

from .stores_support import cancel_while_redis_holds_it, is_free, redis_url, unique_prefix
from .test_stores_redis_faults import HANG_GUARD, handshake_then, resp_server

__all__ = ["redis_url"]  # the fixture, imported for pytest


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture(params=["url", "client"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RedisStore]:
    if request.param == "url":
        made = RedisStore(redis_url, prefix=unique_prefix())
        yield made
        await made.aclose()
    else:
        async with Redis.from_url(redis_url) as client:
            made = RedisStore(client=client, prefix=unique_prefix())
            yield made
            await made.aclose()


async def test_an_acquire_cancelled_while_redis_holds_it_gives_the_lease_back(store, admin):
    await cancel_while_redis_holds_it(admin, store.acquire("k", ttl=600, wait=5))
    assert await is_free(store, "k", wait=2)  # taken for nobody, then given back (ttl 600)


async def test_acquires_cancelled_at_random_moments_leave_no_conversation_locked(store):
    loop = asyncio.get_running_loop()
    rand = random.Random(2)  # noqa: S311 - spreads cancellations out, no secret
    await store.load("warm-up")
    for round_number in range(4):
        keys = [f"r{round_number}-{i}" for i in range(50)]
        callers = [
            asyncio.ensure_future(store.acquire(key, ttl=600, wait=5, load=True)) for key in keys
        ]
        for caller in callers:
            loop.call_later(rand.uniform(0, 0.004), caller.cancel)
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Lease):
                await store.release(outcome)
        locked = [key for key in keys if not await is_free(store, key, wait=2)]
        assert locked == []


async def test_an_acquire_cancelled_as_its_reply_is_handed_over_gives_the_lease_back():
    """The cancellation lands in the very loop iteration that hands the lease over.

    The server answers a ``GET`` the test awaits and the ``ACQUIRE`` together, so both
    replies are handed over in one step of the store's reader: the test wakes first and
    cancels the acquiring caller, whose reply is already there.
    """
    held_get: list[bytes] = []
    released: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def answer(command: list[bytes], _number: int) -> bytes | None:
        name = command[0].upper()
        if name == b"GET":
            held_get.append(command[1])
            return None  # answered with the ACQUIRE's reply
        if name == b"EVALSHA" and command[1] == ACQUIRE.sha.encode():
            return b"_\r\n" + b"*2\r\n:7\r\n_\r\n"  # GET: nil; ACQUIRE: token 7, no data
        if name == b"EVALSHA" and command[1] == RELEASE.sha.encode():
            if not released.done():
                released.set_result(command[-1])
            return b":1\r\n"
        return b"-ERR not in this test\r\n"

    async with resp_server(handshake_then(answer)) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=5")
        try:
            caller = asyncio.ensure_future(store.acquire("k", ttl=600, wait=5))
            assert await store.load("other") is None  # wakes before the caller does...
            caller.cancel()  # ...whose reply, token 7, is already handed over
            with pytest.raises(asyncio.CancelledError):
                await caller
            assert await asyncio.wait_for(released, HANG_GUARD) == b"7"  # 3.10: no asyncio.timeout
            assert held_get
        finally:
            await store.aclose()


@pytest.mark.parametrize("call", ["release", "acquire"])
async def test_a_call_cancelled_while_redis_forgot_its_script_still_leaves_no_lease(
    store, admin, call
):
    """Redis answers NOSCRIPT (restarted, ``SCRIPT FLUSH``) to a call whose caller is gone.

    A release is sent again as ``EVAL`` even so, or the lease would stay held for its
    whole ttl; an acquire that never ran has nothing to give back.
    """
    lease = await store.acquire("k", ttl=600, wait=0)  # the scripts are loaded
    if call == "acquire":
        await store.release(lease)
    await admin.script_flush()
    await cancel_while_redis_holds_it(  # held, then it finds no script
        admin,
        store.release(lease) if call == "release" else store.acquire("k", ttl=600, wait=5),
    )
    assert await is_free(store, "k", wait=2)
