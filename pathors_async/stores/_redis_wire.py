"""How `RedisStore` talks to Redis: Lua calls packed from cached bytes, on connections of its own.

redis-py's ``Script.__call__`` and ``Redis.execute_command`` cost more client CPU
than a turn's two Lua calls are worth: every argument encoded one by one, the
blocking pool's Condition, its observability hooks. `ConnectionCaller` sends the
same commands through redis-py's public connection API instead: ``EVALSHA``
packed from a head cached per script (``send_packed_command``), the reply read
with ``read_response``, on connections of its own kept in a free list behind an
`asyncio.Semaphore` (calls past ``max_connections`` wait for a connection, never
fail for it). `ClientCaller` sends them through a client the user gave, with
its pool, retries and cluster routing. Both reload a script the server forgot
(a restart, ``SCRIPT FLUSH``) with one ``EVAL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = ["Arg", "Caller", "ClientCaller", "ConnectionCaller", "LuaScript", "pack"]

Arg = Union[bytes, str, int]  # noqa: UP007 - a runtime alias, and Python 3.10 is supported


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def to_bytes(value: Arg) -> bytes:
    """`value` as Redis receives it: bytes as they are, text as UTF-8, a number in decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b"%d" % value


def pack(*parts: Arg) -> bytes:
    """One command in RESP, ready for ``send_packed_command``."""
    return b"*%d\r\n%b" % (len(parts), b"".join([_bulk(to_bytes(part)) for part in parts]))


class LuaScript:
    """A Lua script called with a fixed number of keys and arguments, its command heads cached.

    Args:
        source: The Lua text.
        keys: How many keys every call passes.
        args: How many arguments every call passes.
    """

    def __init__(self, source: str, *, keys: int, args: int) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts so
        self.keys = keys
        self.args = args
        count, numkeys = b"*%d\r\n" % (3 + keys + args), _bulk(b"%d" % keys)
        self._by_sha = count + _bulk(b"EVALSHA") + _bulk(self.sha.encode()) + numkeys
        self._by_source = count + _bulk(b"EVAL") + _bulk(source.encode()) + numkeys

    def packed(self, keys: Sequence[Arg], args: Sequence[Arg], *, by_sha: bool = True) -> bytes:
        """The ``EVALSHA`` (or, with ``by_sha=False``, ``EVAL``) command for one call.

        Raises:
            ValueError: Not the script's number of keys and arguments.
        """
        if len(keys) != self.keys or len(args) != self.args:
            raise ValueError(
                f"this script takes {self.keys} keys and {self.args} arguments, "
                f"got {len(keys)} and {len(args)}"
            )
        head = self._by_sha if by_sha else self._by_source
        return head + b"".join([_bulk(to_bytes(part)) for part in (*keys, *args)])


class Caller(Protocol):
    """Runs scripts and plain commands on one Redis; its errors are redis-py's."""

    async def script(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:  # noqa: ANN401
        """Run `script`; return its reply."""
        ...  # pragma: no cover - a protocol

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command; return its reply."""
        ...  # pragma: no cover - a protocol

    async def aclose(self) -> None:
        """Let go of the connections."""
        ...  # pragma: no cover - a protocol


class ConnectionCaller:
    """Our own connections to one Redis, made with the settings of `pool` (its URL).

    A connection is used by one call at a time and goes back to the free list
    after it. redis-py disconnects a connection whose exchange was interrupted
    (an error, a timeout, a cancellation), so none goes back with a reply left
    unread; a disconnected one connects again on its next use. A call that finds
    its idle connection dead (the server restarted) tries once more on a new one.

    The URL's ``socket_timeout`` (redis-py's default when it has none) bounds each
    call as a whole (connecting, sending, reading) under one timer, instead of
    redis-py's timer per send and per read: the same bound for less CPU.

    Args:
        pool: Makes the connections (``pool.make_connection()``); nothing else of it is used.
        max_connections: Connections open at most; further calls wait for one.
    """

    def __init__(self, pool: ConnectionPool, *, max_connections: int) -> None:
        from redis.exceptions import ConnectionError as Disconnected  # noqa: PLC0415 - optional
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - the extra is optional

        self._no_script, self._disconnected = NoScriptError, Disconnected
        probe = pool.make_connection()  # type: ignore[no-untyped-call]  # not connected: only its settings are read
        self._timeout: float | None = probe.socket_timeout or None
        pool.connection_kwargs.update(
            socket_timeout=None, socket_connect_timeout=probe.socket_connect_timeout
        )
        self._pool: Any = pool  # redis-py's own types are too loose to help here
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[AbstractConnection] = []
        self._closed = False

    async def script(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:  # noqa: ANN401
        """Run `script` by its SHA-1, or by its source when the server does not know it."""
        packed = script.packed(keys, args)
        async with self._slots:
            connection = self._take()
            try:
                try:
                    return await self._bounded(self._exchange(connection, packed))
                except self._no_script:
                    packed = script.packed(keys, args, by_sha=False)
                    return await self._bounded(self._exchange(connection, packed))
            finally:
                await self._give_back(connection)

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command."""
        packed = pack(*parts)
        async with self._slots:
            connection = self._take()
            try:
                return await self._bounded(self._exchange(connection, packed))
            finally:
                await self._give_back(connection)

    def _take(self) -> AbstractConnection:
        return self._idle.pop() if self._idle else self._pool.make_connection()

    async def _give_back(self, connection: AbstractConnection) -> None:
        if self._closed:
            await connection.disconnect()
        else:
            self._idle.append(connection)

    async def _bounded(self, call: Awaitable[Any]) -> Any:  # noqa: ANN401
        if self._timeout is None:
            return await call
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self._timeout):
                    return await call
            return await asyncio.wait_for(call, self._timeout)  # pragma: no cover - Python 3.10
        except asyncio.TimeoutError:
            from redis.exceptions import TimeoutError as NoReply  # noqa: PLC0415 - optional

            raise NoReply(
                f"no reply within {self._timeout:g} s (the URL's socket_timeout)"
            ) from None

    async def _exchange(self, connection: AbstractConnection, packed: bytes) -> Any:  # noqa: ANN401
        was_connected = connection.is_connected
        try:
            await connection.send_packed_command(packed)
            return await connection.read_response()
        except self._disconnected:
            if not was_connected:
                raise
        # the idle connection had died (redis-py has disconnected it): once more, connecting anew
        await connection.send_packed_command(packed)
        return await connection.read_response()

    async def aclose(self) -> None:
        """Close the idle connections, and each busy one when its call ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()


class ClientCaller:
    """The commands sent through a `redis.asyncio.Redis` the user gave (not closed here)."""

    def __init__(self, client: Redis) -> None:
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - the extra is optional

        self._no_script = NoScriptError
        self._client: Any = client  # redis-py's own types are too loose to help here

    async def script(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:  # noqa: ANN401
        """Run `script` by its SHA-1, or by its source when the server does not know it."""
        try:
            return await self._client.execute_command(
                "EVALSHA", script.sha, len(keys), *keys, *args
            )
        except self._no_script:
            return await self._client.execute_command(
                "EVAL", script.source, len(keys), *keys, *args
            )

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command."""
        return await self._client.execute_command(*parts)

    async def aclose(self) -> None:
        """Nothing to do: the client is the user's."""
