"""Retry decisions: what to retry, how long to wait, and a test mode without waits.

Everything here but `sleep` is pure: it takes the policy, what happened and the
time, and answers with a delay or "do not retry".
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import math
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from ._config import RetryPolicy

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "Failure",
    "RetryTesting",
    "backoff",
    "retry_after",
    "retry_delay",
    "set_testing",
    "sleep",
]


class Failure(enum.Enum):
    """How an attempt failed without an HTTP status."""

    #: The connection could not be made: the request never left.
    NOT_SENT = "not sent"
    #: The request was sent, then the connection broke or went silent.
    SENT = "sent"


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Read how long the server asked us to wait.

    ``retry-after-ms`` (milliseconds) wins over ``Retry-After``, which is either
    seconds or an HTTP date.

    Args:
        headers: The response headers (case-insensitive mapping).
        now: The current time, for HTTP dates (default: now, UTC).

    Returns:
        Seconds to wait (0 or more, possibly ``inf`` for a date too far to
        compute), or None if no valid header was sent.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds)
        except ValueError:
            pass
        else:
            if value >= 0:
                return value / 1000
    text = headers.get("retry-after")
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    if email.utils.parsedate_tz(text) is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return math.inf  # a real date past what datetime holds: too far, capped by the caller
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff(policy: RetryPolicy, retry_number: int, rand: Callable[[], float]) -> float:
    """Compute the wait before retry number `retry_number` (1 for the first).

    Args:
        policy: The retry policy.
        retry_number: Which retry this is, from 1.
        rand: A source of floats in [0, 1).

    Returns:
        ``min(initial * 2**(n-1), max)``, less up to `policy.jitter` of it.
    """
    delay = min(policy.backoff_initial * 2.0 ** (retry_number - 1), policy.backoff_max)
    return delay * (1 - policy.jitter * rand())


def _retryable(
    policy: RetryPolicy, *, status: int | None, failure: Failure | None, idempotent: bool
) -> bool:
    if status is not None:
        return status in policy.retry_statuses
    if failure is Failure.NOT_SENT:
        return True
    if failure is Failure.SENT:
        return idempotent or policy.retry_on_disconnect
    return False


def retry_delay(
    policy: RetryPolicy,
    *,
    retries_done: int,
    status: int | None = None,
    failure: Failure | None = None,
    headers: Mapping[str, str] | None = None,
    idempotent: bool = False,
    time_left: float | None = None,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Decide whether to retry a failed attempt, and after how long.

    Args:
        policy: The retry policy.
        retries_done: How many retries were already made.
        status: The HTTP status, if a response came.
        failure: How the attempt failed, if no response came; None with no
            status means a failure no retry can help (a spent deadline, a bad
            certificate).
        headers: The response headers, for ``Retry-After``.
        idempotent: Whether the request changes nothing on the server.
        time_left: Seconds until the call's total deadline, if it has one.
        now: The current time, for HTTP-date ``Retry-After``.
        rand: A source of floats in [0, 1), for jitter.

    Returns:
        Seconds to wait before retrying, or None to give up.
    """
    if retries_done >= policy.max_retries or not _retryable(
        policy, status=status, failure=failure, idempotent=idempotent
    ):
        return None
    asked = retry_after(headers, now) if headers is not None else None
    if asked is not None:
        delay = min(asked, policy.retry_after_max)
    else:
        delay = backoff(policy, retries_done + 1, rand)
    if time_left is not None and delay >= time_left:
        return None
    return delay


@attrs.define
class RetryTesting:
    """The state of retry test mode; a context manager that restores the previous mode.

    Attributes:
        enabled: Whether retries skip their waits.
        delays: Every wait that would have been slept while enabled, in order.
    """

    enabled: bool
    delays: list[float] = attrs.field(factory=list)
    _previous: RetryTesting | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _testing  # noqa: PLW0603 - one process-wide switch, like stamina's
        _testing = self._previous or RetryTesting(enabled=False)


_testing = RetryTesting(enabled=False)


def set_testing(enabled: bool = True) -> RetryTesting:  # noqa: FBT001, FBT002 - mirrors stamina
    """Turn retry test mode on or off: retries happen, but without waiting.

    Use it as a plain call or as a context manager that restores the previous
    mode. While it is on, the waits that would have been slept are recorded in
    the returned object's `delays`, so a test can assert that ``Retry-After``
    was honoured.

    Args:
        enabled: True to skip waits, False for real waits.

    Returns:
        The new mode.
    """
    global _testing  # noqa: PLW0603 - one process-wide switch, like stamina's
    _testing = RetryTesting(enabled=enabled, previous=_testing)
    return _testing


async def sleep(delay: float) -> None:
    """Wait `delay` seconds before a retry, or just yield in test mode.

    Args:
        delay: Seconds to wait.
    """
    state = _testing
    if state.enabled:
        state.delays.append(delay)
        await asyncio.sleep(0)
    else:
        await asyncio.sleep(delay)
