"""Connections to a Redis URL on which calls never fail for want of a free connection.

redis-py's default pool raises ``MaxConnectionsError`` once more calls run at
once than it holds connections. `redis_from_url` (for the batch queue) makes a
client on a `BlockingConnectionPool` with no wait limit: extra calls wait their
turn. `connections_for_url` (for `RedisStore`) pipelines every call on one
connection, so none waits for a connection at all (see `PipelinedCaller`).
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

from ._redis_pipeline import PipelinedCaller

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "check_max_connections",
    "connections_for_url",
    "redis_from_url",
]

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


def connections_for_url(url: str, *, needed_by: str) -> PipelinedCaller:
    """One pipelined connection to `url`, made on first use.

    Raises:
        ImportError: redis-py is not installed (the message says how to install it).
    """
    try:
        from redis.asyncio import ConnectionPool  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ImportError(
            f"{needed_by} needs redis-py: pip install 'pathors-async[redis]'"
        ) from exc
    return PipelinedCaller(ConnectionPool.from_url(url))
