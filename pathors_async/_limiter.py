"""`Limiter`: a client's `RateLimit` at work; each attempt waits here for a `Slot`.

The transport takes a slot before each attempt (`Limiter.take`) and gives it
back when the response is done with (a stream's when it is closed); a 429
with ``Retry-After`` pauses the budget (`Limiter.pause_after`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Final

from ._errors import StoreError
from ._ratelimit import GcraState, RateLimit
from ._retry import retry_after

__all__ = ["NO_SLOT", "Limiter", "Slot"]

logger: Final = logging.getLogger("pathors_async")


class Slot:
    """A place among the requests under way; `release` gives it back (once).

    Attributes:
        waited: Seconds the request waited for it (not counted in ``Timeout.total``).
    """

    __slots__ = ("_semaphore", "waited")

    def __init__(self, semaphore: asyncio.Semaphore | None, waited: float = 0.0) -> None:
        self._semaphore = semaphore
        self.waited = waited

    def release(self) -> None:
        """Give the place back; calling it again does nothing."""
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()

    def hand_over(self) -> Slot:
        """Return a slot that owns the place now; this one no longer does."""
        if self._semaphore is None:
            return self
        slot, self._semaphore = Slot(self._semaphore, self.waited), None
        return slot


#: The slot of a client without a rate limit: holds nothing.
NO_SLOT = Slot(None)


class Limiter:
    """Makes each attempt wait for its slot under a `RateLimit`.

    Args:
        config: The rate limit.
        clock: Seconds from a fixed origin (for a budget of this client only).
    """

    def __init__(self, config: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._interval = config.interval
        self._tolerance = config.tolerance
        self._paced = config.requests_per_minute is not None or config.shared is not None
        self._state = GcraState()
        self._clock = clock
        bound = config.max_in_flight
        self._semaphore = None if bound is None else asyncio.Semaphore(bound)

    def __repr__(self) -> str:
        return f"Limiter({self.config!r})"

    async def take(self) -> Slot:
        """Wait for a place among the requests under way, then for a slot in the budget.

        The place comes first, so a request that waited for it still keeps to
        the rate when it goes.

        Returns:
            The slot; release it when the response is done with.

        Raises:
            StoreError: The shared store failed.
        """
        semaphore = self._semaphore
        started = time.monotonic()
        if semaphore is not None:
            await semaphore.acquire()
        try:
            if self._paced:
                wait = await self._reserve(recheck=False)
                while wait > 0:
                    await asyncio.sleep(wait)
                    wait = await self._reserve(recheck=True)  # a pause may have begun
        except BaseException:
            if semaphore is not None:
                semaphore.release()
            raise
        return Slot(semaphore, time.monotonic() - started)

    async def _reserve(self, *, recheck: bool) -> float:
        shared = self.config.shared
        if shared is not None:
            return await shared.rate_limit_reserve(
                interval=self._interval, tolerance=self._tolerance, recheck=recheck
            )
        return self._state.reserve(
            self._clock(), interval=self._interval, tolerance=self._tolerance, recheck=recheck
        )

    async def pause_after(self, headers: Mapping[str, str], *, cap: float) -> None:
        """Pause the budget for as long as a 429's ``Retry-After`` asks (at most `cap` s).

        Without the header nothing is paused (the retry policy still backs off).
        A shared store that fails here is logged, not raised: the 429 is what
        the caller must hear about.

        Args:
            headers: The 429's response headers.
            cap: The longest pause (the retry policy's ``retry_after_max``).
        """
        asked = retry_after(headers)
        if asked is None or not (seconds := min(asked, cap)) > 0 or math.isnan(seconds):
            return
        shared = self.config.shared
        if shared is not None:
            try:
                await shared.rate_limit_pause(seconds, tolerance=self._tolerance)
            except StoreError as exc:
                logger.warning("could not pause the shared rate limit for %.2f s: %s", seconds, exc)
        else:
            self._state.pause(self._clock(), seconds)
