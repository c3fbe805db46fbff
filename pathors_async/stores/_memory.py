"""`MemoryStore`: conversations in a dict, for one process (tests, scripts, one worker)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import attrs

from ._protocol import Lease, check_key, check_lease, check_seconds, decode, encode, lease_lost
from ._waiting import Wakeups, acquire_cancel_safe, wait_for_lease

__all__ = ["MemoryStore"]


@attrs.define
class _Held:
    token: int
    expires_at: float
    released: bool = False


class MemoryStore:
    """A `ConversationStore` in this process's memory: gone when the process ends.

    Leases work between the tasks of one process only; for several workers use
    `SQLiteStore` (one machine) or `RedisStore` (many). Data is kept as JSON
    text, so what `load` returns is a copy, as from any other store.

    Args:
        clock: Seconds since the epoch (``time.time``); tests may pass their own.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._data: dict[str, str] = {}
        self._leases: dict[str, _Held] = {}
        self._tokens = itertools.count(1)
        self._wakeups = Wakeups()

    def __repr__(self) -> str:
        return f"MemoryStore(conversations={len(self._data)})"

    def _try(self, key: str, ttl: float, *, load: bool) -> Lease | None:
        now = self._clock()
        held = self._leases.get(key)
        if held is not None and not held.released and held.expires_at > now:
            return None
        text = self._data.get(key) if load else None
        data = decode(key, text) if text is not None else None  # damaged: no lease taken
        token = next(self._tokens)
        self._leases[key] = _Held(token=token, expires_at=now + ttl)
        return Lease(key=key, token=token, expires_at=now + ttl, data=data)

    async def acquire(self, key: str, *, ttl: float, wait: float, load: bool = False) -> Lease:
        """Take the lease on `key` (see `ConversationStore.acquire`)."""
        check_key(key)
        ttl = check_seconds("ttl", ttl)
        wait = check_seconds("wait", wait, allow_zero=True)

        lease = self._try(key, ttl, load=load)
        if lease is not None:  # free: no waiting, nothing to cancel
            return lease

        async def try_once() -> Lease | None:
            return self._try(key, ttl, load=load)

        return await acquire_cancel_safe(
            wait_for_lease(key, wait, try_once, self._wakeups, missed=True), self.release
        )

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (see `ConversationStore.renew`)."""
        ttl = check_seconds("ttl", ttl)
        held = self._leases.get(lease.key)
        if held is None or held.token != lease.token or held.released:
            raise lease_lost(lease.key, lease.token)
        held.expires_at = self._clock() + ttl
        return attrs.evolve(lease, expires_at=held.expires_at, data=None)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (see `ConversationStore.release`)."""
        self._release(lease)

    def _release(self, lease: Lease) -> None:
        held = self._leases.get(lease.key)
        if held is not None and held.token == lease.token:
            held.released = True
            self._wakeups.notify(lease.key)

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the saved data of `key`, or None."""
        text = self._data.get(check_key(key))
        return decode(key, text) if text is not None else None

    async def save(
        self, key: str, data: dict[str, Any], lease: Lease, *, release: bool = False
    ) -> None:
        """Save `data`, fenced by `lease` (see `ConversationStore.save`)."""
        check_lease(check_key(key), lease)
        text = encode(data)
        held = self._leases.get(key)
        if held is None or held.token != lease.token:
            raise lease_lost(key, lease.token)
        self._data[key] = text
        if release:
            self._release(lease)

    async def delete(self, key: str) -> None:
        """Remove the saved data of `key`."""
        self._data.pop(check_key(key), None)

    async def aclose(self) -> None:
        """Nothing to close; here for the protocol."""
