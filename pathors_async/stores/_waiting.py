"""Waiting for a lease: backoff with jitter, and early wake-ups within one process.

Stores shared between processes cannot tell a waiter when a lease is released
in another process, so waiters poll, with a growing, jittered delay capped by
the time left. Within one process, `release` wakes the longest waiter for the
key at once (`Wakeups`), so a hot conversation changes hands without a poll.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

from pathors_async._errors import ConversationBusy

from ._protocol import Lease

__all__ = [
    "Wakeups",
    "acquire_cancel_safe",
    "backoff_delay",
    "busy",
    "release_orphan",
    "wait_for_lease",
]

FIRST_DELAY: Final = 0.005
MAX_DELAY: Final = 0.25


def backoff_delay(
    attempt: int,
    remaining: float,
    *,
    rand: Callable[[], float] = random.random,
    first: float = FIRST_DELAY,
    cap: float = MAX_DELAY,
) -> float:
    """The pause before attempt number ``attempt + 1`` to take a lease.

    "Equal jitter": half of the exponential step for sure, the other half at
    random, so waiters spread out but never spin.

    Args:
        attempt: Failed attempts so far (from 1).
        remaining: Seconds left before giving up.
        rand: A source of floats in [0, 1).
        first: The step after the first failure.
        cap: The longest step.

    Returns:
        Seconds to wait, never more than `remaining` (nor less than 0).
    """
    step = min(cap, first * 2.0 ** min(attempt - 1, 32))
    return max(0.0, min(remaining, step / 2 + rand() * step / 2))


class Wakeups:
    """Per-key queues of waiters in this process, woken one at a time on release."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def wait(self, key: str, timeout: float) -> None:
        """Wait until `notify(key)` or `timeout` seconds, whichever comes first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters.setdefault(key, [])
        queue.append(future)
        try:
            await asyncio.wait((future,), timeout=timeout)
        finally:
            if not future.done():
                future.cancel()
            if future in queue:
                queue.remove(future)
            if not queue and self._waiters.get(key) is queue:
                del self._waiters[key]

    def notify(self, key: str) -> None:
        """Wake the longest-waiting waiter for `key`, if any."""
        for future in self._waiters.get(key, ()):
            if not future.done():
                future.set_result(None)
                return


def busy(key: str, wait: float, waited: float) -> ConversationBusy:
    """The `ConversationBusy` for `key` after `waited` seconds."""
    return ConversationBusy(
        f"conversation {key!r} is busy: another turn held its lease for the whole "
        f"lock_wait ({wait:g} s); try again when it has finished, or raise lock_wait",
        key=key,
        waited=waited,
    )


async def wait_for_lease(
    key: str,
    wait: float,
    try_once: Callable[[], Awaitable[Lease | None]],
    wakeups: Wakeups,
    *,
    missed: bool = False,
) -> Lease:
    """Call `try_once` until it returns a lease, for at most `wait` seconds.

    Args:
        key: The conversation key.
        wait: Seconds to keep trying.
        try_once: One attempt: the lease, or None while another holds it.
        wakeups: Where this process's releases wake waiters early.
        missed: The caller has just tried once and missed: wait before trying.

    Returns:
        The lease.

    Raises:
        ConversationBusy: No attempt succeeded within `wait`.
    """
    start = time.monotonic()
    deadline = start + wait
    attempt = 0
    lease = None if missed else await try_once()
    while lease is None:
        attempt += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise busy(key, wait, time.monotonic() - start)
        await wakeups.wait(key, backoff_delay(attempt, remaining))
        lease = await try_once()
    return lease


async def acquire_cancel_safe(
    attempt: Awaitable[Lease], release: Callable[[Lease], Awaitable[None]]
) -> Lease:
    """Await `attempt` so that a lease it gets after its caller was cancelled is released.

    The attempt runs in its own task; if the caller is cancelled first, the task
    goes on, and a lease it then obtains is released at once instead of being
    held, unused, until it expires.
    """
    task = asyncio.ensure_future(attempt)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(lambda done: _release_done(done, release))
        raise


_ORPHANS: set[asyncio.Task[None]] = set()


def _release_done(done: asyncio.Future[Lease], release: Callable[[Lease], Awaitable[None]]) -> None:
    if not done.cancelled() and done.exception() is None:
        release_orphan(done.result(), release)


def release_orphan(lease: Lease | None, release: Callable[[Lease], Awaitable[None]]) -> None:
    """Give back, in the background, a lease obtained for a caller that was cancelled.

    Nothing to do for None (the attempt found the lease taken). A failed
    release only leaves the lease to expire.
    """
    if lease is None:
        return
    task = asyncio.ensure_future(release(lease))
    _ORPHANS.add(task)
    task.add_done_callback(_forget_orphan)


def _forget_orphan(task: asyncio.Task[None]) -> None:
    _ORPHANS.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed release only leaves the lease to expire
