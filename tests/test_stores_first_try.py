"""The first try to take a lease is cheap (awaited directly) yet still cancel-safe."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pathors_async import ConversationBusy
from pathors_async.stores import MemoryStore, SQLiteStore


class GateClock:
    """A clock that, once armed, holds the store's thread until the test lets it go."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> float:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.go.wait(10)
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
