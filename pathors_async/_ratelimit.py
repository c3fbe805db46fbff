"""`RateLimit` (the configuration), the pure GCRA behind it, and the protocol to share it.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as
one number): the state is the *theoretical arrival time* ``tat`` of the next
request at the steady rate. A request asking at ``now`` gets the slot at
``max(now, tat - tolerance)`` and moves ``tat`` on by one interval, so a
request never fails: it learns how long to wait. In any window of ``w``
seconds at most ``burst + w / interval`` slots fall.

A 429's ``Retry-After`` sets ``paused_until``: no slot falls before it, and
the requests after it start at the steady rate (no burst right after the
server said "too many").

Everything here is pure (the clock is an argument); `_limiter` does the
waiting, and a `SharedRateLimit` (`RedisStore` is one) keeps the same state on
a server, so every process using it shares one budget.
"""

from __future__ import annotations

import math
from typing import Final, Protocol, runtime_checkable

import attrs

__all__ = ["MIN_REQUESTS_PER_MINUTE", "GcraState", "RateLimit", "SharedRateLimit"]


@runtime_checkable
class SharedRateLimit(Protocol):
    """A rate-limit state kept where several processes reach it (`RedisStore` is one).

    Both methods follow `GcraState` exactly, on the server's clock, atomically.
    """

    async def rate_limit_reserve(
        self, *, interval: float, tolerance: float, recheck: bool = False
    ) -> float:
        """Take the next slot (see `GcraState.reserve`); return the seconds to wait for it."""
        ...

    async def rate_limit_pause(self, seconds: float, *, tolerance: float) -> None:
        """Let no slot fall in the next `seconds` seconds (see `GcraState.pause`)."""
        ...


@attrs.define
class GcraState:
    """The state of one budget: pure, every method takes the time.

    Attributes:
        tat: The theoretical arrival time of the next request (seconds).
        paused_until: No slot before this time (seconds; 0: no pause).
    """

    tat: float = 0.0
    paused_until: float = 0.0

    def reserve(
        self, now: float, *, interval: float, tolerance: float, recheck: bool = False
    ) -> float:
        """Take the next slot and return how long to wait for it.

        Args:
            now: The current time (seconds, any fixed origin).
            interval: Seconds between slots at the steady rate (0: no rate, only pauses).
            tolerance: How far ahead of the steady rate a slot may fall
                (``(burst - 1) * interval``).
            recheck: Called again after waiting for a slot: take a new one only
                if a pause began meanwhile, else return 0 and take nothing.

        Returns:
            Seconds from `now` until the slot (0: now).
        """
        paused = self.paused_until
        if paused and now >= paused + tolerance:
            paused = self.paused_until = 0.0  # over, and its smoothing too
        if recheck and paused <= now:
            return 0.0
        tat = max(self.tat, paused + tolerance) if paused else self.tat
        at = max(now, tat - tolerance, paused)
        if interval > 0:
            self.tat = max(tat, now) + interval
        return at - now

    def pause(self, now: float, seconds: float) -> None:
        """Let no slot fall before ``now + seconds`` (a longer pause already set stays).

        Args:
            now: The current time.
            seconds: How long the server asked us to wait.
        """
        self.paused_until = max(self.paused_until, now + seconds)


MIN_REQUESTS_PER_MINUTE: Final = 1e-3
"""The slowest `RateLimit.requests_per_minute`: one request every 1000 minutes.

Slower rates would overflow the shared (Redis) budget's arithmetic; this keeps
a local and a shared budget alike.
"""


def _positive_or_none(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is None:
        return
    label = f"RateLimit.{attribute.name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{label} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < MIN_REQUESTS_PER_MINUTE:
        raise ValueError(
            f"{label} must be a finite number of at least {MIN_REQUESTS_PER_MINUTE:g} "
            f"(one request every {1 / MIN_REQUESTS_PER_MINUTE:g} minutes), or None for no "
            f"limit; got {value!r}"
        )


def _count_or_none(instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is None:
        return
    label = f"RateLimit.{attribute.name}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{label} must be 1 or more (or None for the default), got {value}")


def _shared(
    instance: object, attribute: attrs.Attribute[SharedRateLimit | None], value: object
) -> None:
    if value is not None and not isinstance(value, SharedRateLimit):
        raise TypeError(
            f"RateLimit.shared must be a store that shares rate limits between processes "
            f"(RedisStore), not {type(value).__name__}; leave it None for a budget per client"
        )


@attrs.frozen(kw_only=True)
class RateLimit:
    """How fast, and how many at once, a client may send requests.

    Pass it as ``AsyncPathors(rate_limit=...)``. A request waits for its slot,
    in order of asking; it never fails for want of one. Each attempt takes a
    slot (a retry too). Without `shared`, the budget belongs to the client
    (one per process, usually); with it, every client of every process using
    the same store (the same Redis and key prefix) shares one budget, and a
    429's ``Retry-After`` seen by any of them pauses all of them.

    Args:
        requests_per_minute: The steady rate, at least 0.001 (one request every
            1000 minutes; None: no rate limit).
        max_in_flight: Most requests under way at once in this client; a
            stream holds its place until it is closed (None: no bound beyond
            ``max_connections``). Not shared between processes.
        shared: A store that keeps the budget for every process using it:
            a `RedisStore` (None: this client alone).
        burst: How many requests may go at once before the steady rate
            applies (default: one second's worth, at least 1).

    Raises:
        TypeError, ValueError: An option is out of range, or `shared` cannot
            share a rate limit.
    """

    requests_per_minute: float | None = attrs.field(default=None, validator=_positive_or_none)
    max_in_flight: int | None = attrs.field(default=None, validator=_count_or_none)
    shared: SharedRateLimit | None = attrs.field(default=None, validator=_shared, eq=False)
    burst: int | None = attrs.field(default=None, validator=_count_or_none)

    def __attrs_post_init__(self) -> None:
        if self.requests_per_minute is None and self.max_in_flight is None and self.shared is None:
            raise ValueError(
                "RateLimit needs requests_per_minute=, max_in_flight= or shared= "
                "(or pass rate_limit=None for no limit)"
            )

    @property
    def interval(self) -> float:
        """Seconds between slots at the steady rate (0 without `requests_per_minute`)."""
        rate = self.requests_per_minute
        return 0.0 if rate is None else 60.0 / rate

    @property
    def burst_size(self) -> int:
        """The burst in force: `burst`, or one second's worth of requests (at least 1)."""
        if self.burst is not None:
            return self.burst
        rate = self.requests_per_minute
        return 1 if rate is None else max(1, math.ceil(rate / 60))

    @property
    def tolerance(self) -> float:
        """How far ahead of the steady rate a slot may fall: ``(burst - 1) * interval``."""
        return (self.burst_size - 1) * self.interval
