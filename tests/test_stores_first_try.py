"""The first try to take a lease is cheap (awaited directly) yet still cancel-safe."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from pathors_async import ConversationBusy
from pathors_async.stores import Lease, MemoryStore, SQLiteStore

from .stores_support import is_free


class GateClock:
    """A clock that, once armed, holds the store's thread until the test lets it go."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.go = threading.Event()
        self.called: threading.Event | None = None  # set by the next unarmed call

    def __call__(self) -> float:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.go.wait(10)
        elif self.called is not None:
            self.called.set()
        return time.time()


async def test_an_acquire_cancelled_while_its_first_try_runs_gives_the_lease_back(tmp_path):
    clock = GateClock()
    store = SQLiteStore(tmp_path / "c.db", clock=clock)
    try:
        await store.load("warm-up")  # the thread and the file exist
        clock.armed = True
        caller = asyncio.ensure_future(store.acquire("k", ttl=60, wait=5))
        await asyncio.to_thread(clock.entered.wait, 10)  # the take is under way on the thread
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        clock.go.set()  # the take goes on and gets the lease, for nobody...
        lease = await store.acquire("k", ttl=60, wait=5)  # ...so it is given back at once
        await store.release(lease)
    finally:
        await store.aclose()


async def test_an_acquire_cancelled_as_its_first_try_delivers_the_lease_gives_it_back(tmp_path):
    """The cancellation lands in the very loop iteration that delivers the lease.

    As a timeout or a cancel scope firing then does: the result is already in
    the thread's future, so only the cancelled await can hand it back.
    """
    clock = GateClock()
    store = SQLiteStore(tmp_path / "c.db", clock=clock)
    try:
        await store.load("warm-up")
        clock.armed = True
        caller = asyncio.ensure_future(store.acquire("k", ttl=60, wait=5))
        await asyncio.to_thread(clock.entered.wait, 10)  # the take is under way on the thread
        clock.called = threading.Event()
        other = asyncio.ensure_future(store.acquire("other", ttl=60, wait=5))
        await asyncio.sleep(0)  # its take is queued: it runs once the first has been delivered
        clock.go.set()
        assert clock.called.wait(10)  # (blocks the loop) the lease for "k" is posted to it, unread
        asyncio.get_running_loop().call_soon(caller.cancel)  # runs right after that delivery
        with pytest.raises(asyncio.CancelledError):
            await caller
        await store.release(await other)
        lease = await store.acquire("k", ttl=60, wait=5)  # given back, not held for lock_ttl
        await store.release(lease)
    finally:
        await store.aclose()


async def test_acquires_cancelled_at_random_moments_leave_no_conversation_locked(tmp_path):
    """Cancellations racing the store's thread (as short timeouts do): none keeps a lease."""
    store = SQLiteStore(tmp_path / "c.db")
    loop = asyncio.get_running_loop()
    rand = random.Random(1)  # noqa: S311 - spreads cancellations out, no secret
    try:
        await store.load("warm-up")
        for round_number in range(4):
            keys = [f"r{round_number}-{i}" for i in range(50)]
            callers = [
                asyncio.ensure_future(store.acquire(key, ttl=600, wait=5, load=True))
                for key in keys
            ]
            for caller in callers:
                loop.call_later(rand.uniform(0, 0.004), caller.cancel)
            outcomes = await asyncio.gather(*callers, return_exceptions=True)
            for outcome in outcomes:
                if not isinstance(outcome, BaseException):
                    await store.release(outcome)
            await store.load("flush")  # the leases handed back are queued before this...
            await store.load("flush")  # ...and given back before this
            cancelled = [
                key for key, got in zip(keys, outcomes, strict=True) if not isinstance(got, Lease)
            ]
            locked = [key for key in cancelled if not await is_free(store, key)]
            assert locked == []
    finally:
        await store.aclose()


async def test_a_cancelled_first_try_that_found_the_lease_taken_leaves_it_to_its_holder(
    tmp_path,
):
    clock = GateClock()
    store = SQLiteStore(tmp_path / "c.db", clock=clock)
    try:
        held = await store.acquire("k", ttl=60, wait=0)
        clock.armed = True
        caller = asyncio.ensure_future(store.acquire("k", ttl=60, wait=5))
        await asyncio.to_thread(clock.entered.wait, 10)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        clock.go.set()  # the take finds the lease held: nothing to give back
        renewed = await store.renew(held, ttl=60)  # queued after the take: the holder keeps it
        assert renewed.token == held.token
        await store.release(renewed)
    finally:
        await store.aclose()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_missed_first_try_waits_then_takes_the_lease_once_released(kind, tmp_path):
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "c.db")
    try:
        held = await store.acquire("k", ttl=60, wait=0)
        with pytest.raises(ConversationBusy):
            await store.acquire("k", ttl=60, wait=0)
        waiter = asyncio.ensure_future(store.acquire("k", ttl=60, wait=30))
        await store.release(held)
        lease = await waiter
        assert lease.token > held.token
        await store.release(lease)
    finally:
        await store.aclose()
