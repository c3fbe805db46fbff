"""One redis-py client per URL whose pool waits for a free connection instead of failing.

redis-py's default pool raises ``MaxConnectionsError`` once more calls run at
once than it holds connections; ours (a `BlockingConnectionPool` with no wait
limit) makes the extra calls wait their turn, as `RateLimit` promises.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_MAX_CONNECTIONS", "check_max_connections", "redis_from_url"]

DEFAULT_MAX_CONNECTIONS = 50
"""Connections a store or batch job opens at most; further calls wait for one."""


def check_max_connections(value: int) -> int:
    """Return `value` if it is a whole number of connections of at least 1.

    Raises:
        ValueError: It is not.
    """
    try:
        number = operator.index(value)
    except TypeError:
        number = 0  # not a whole number: refused below
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"max_connections must be a whole number of at least 1, got {value!r}")
    return number


def redis_from_url(url: str, *, max_connections: int, needed_by: str) -> Redis:
    """A `redis.asyncio.Redis` for `url` that owns a waiting pool (closed with the client).

    Raises:
        ImportError: redis-py is not installed (the message says how to install it).
    """
    try:
        from redis.asyncio import BlockingConnectionPool, Redis  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ImportError(
            f"{needed_by} needs redis-py: pip install 'pathors-async[redis]'"
        ) from exc
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=None)
    return Redis.from_pool(pool)
