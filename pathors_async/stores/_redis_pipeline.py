"""`PipelinedCaller`: every call of a `RedisStore` on one connection, written together.

Concurrent turns each send a command or two; sent one by one, each costs a
``send`` and a ``recv`` system call, which on a busy client is most of what a
Redis call costs. Here the commands that arrive in one turn of the event loop go
out in one write, in order, and one reader task hands each reply to its caller
in the same order (a caller that gave up, by cancellation or timeout, has its
reply read and dropped, so none is ever handed to the wrong caller). It uses
redis-py's public connection API (``send_packed_command``, ``read_response``),
so the URL's settings (TLS, password, database, protocol) all hold.

A connection that fails is dropped with every call waiting on it; those calls
try once more on a new one if the connection had served before (an idle
connection the server closed), and fail otherwise. The URL's ``socket_timeout``
(redis-py's default when it has none) bounds each call as a whole; a call that
runs out of it drops the connection too, since the server may be gone: one
timer watches the oldest unanswered call, instead of a timer per call.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._redis_wire import Arg, LuaScript, pack

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

__all__ = ["PipelinedCaller"]


class PipelinedCaller:
    """One pipelined connection to the Redis of `pool` (its URL), made on first use.

    Args:
        pool: Makes the connection (``pool.make_connection()``); nothing else of it is used.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        from redis import exceptions  # noqa: PLC0415 - the extra is optional

        self._errors = exceptions
        probe = pool.make_connection()  # type: ignore[no-untyped-call]  # its settings only
        self._timeout: float | None = probe.socket_timeout or None
        pool.connection_kwargs.update(
            socket_timeout=None, socket_connect_timeout=probe.socket_connect_timeout
        )
        self._pool: Any = pool  # redis-py's own types are too loose to help here
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the tasks below run in
        self._connection: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._outbox: list[bytes] = []
        self._unsent: list[asyncio.Future[Any]] = []
        # each call written and not yet answered, with the time its reply is due by
        self._in_flight: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._dropping: set[asyncio.Task[None]] = set()

    async def script(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:  # noqa: ANN401
        """Run `script` by its SHA-1, or by its source when the server does not know it."""
        try:
            return await self._call(script.packed(keys, args))
        except self._errors.NoScriptError:
            return await self._call(script.packed(keys, args, by_sha=False))

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command."""
        return await self._call(pack(*parts))

    async def _call(self, packed: bytes) -> Any:  # noqa: ANN401
        served = self._connection is not None
        try:
            return await self._submit(packed)
        except self._errors.ConnectionError:
            if not served:
                raise
        return await self._submit(packed)  # the connection had died while idle: once more

    def _submit(self, packed: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start_over(loop)
        reply = loop.create_future()
        self._outbox.append(packed)
        self._unsent.append(reply)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return reply

    def _start_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget the connection and tasks of another event loop (one that has ended)."""
        self._loop = loop
        self._connection = self._reader = self._flusher = self._watchdog = None
        self._outbox, self._unsent = [], []
        self._in_flight.clear()

    def _watch(self) -> None:
        """Drop the connection if its oldest call has waited `_timeout` seconds for its reply."""
        self._watchdog = None
        if not self._in_flight:
            return
        loop = asyncio.get_running_loop()
        deadline = self._in_flight[0][1]
        if loop.time() < deadline:
            self._watchdog = loop.call_at(deadline, self._watch)
            return
        error = self._errors.TimeoutError(
            f"no reply within {self._timeout:g} s (the URL's socket_timeout)"
        )
        drop = loop.create_task(self._drop(self._connection, error))
        self._dropping.add(drop)
        drop.add_done_callback(self._dropping.discard)

    async def _flush(self) -> None:
        """Write what was submitted, in order, connecting first if need be."""
        connection = self._connection
        ended = False
        try:
            if connection is None:
                connection = self._connection = self._pool.make_connection()
            while self._outbox and connection is self._connection:
                packed, self._outbox = self._outbox, []
                self._send_off(self._unsent)
                self._unsent = []
                await connection.send_packed_command(packed, check_health=False)  # connects first
                if self._reader is None and connection is self._connection:  # not dropped since
                    self._reader = asyncio.get_running_loop().create_task(self._read(connection))
        except asyncio.CancelledError:  # the event loop is ending
            ended = True
            raise
        except Exception as exc:  # noqa: BLE001 - each waiting call gets it
            await self._drop(connection, exc, unsent_too=True)
        finally:
            self._flusher = None
            if self._outbox and not ended:  # submitted after a drop: a new connection carries them
                self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _send_off(self, replies: list[asyncio.Future[Any]]) -> None:
        if self._timeout is None:
            self._in_flight.extend([(reply, 0.0) for reply in replies])
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        self._in_flight.extend([(reply, deadline) for reply in replies])
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._watch)

    async def _read(self, connection: Any) -> None:  # noqa: ANN401
        """Hand each reply to the call that waits for it, in order, until the connection ends."""
        try:
            while True:
                try:
                    reply = await connection.read_response()
                except self._errors.ResponseError as exc:  # an error reply: that call's
                    reply = exc
                waiting = self._in_flight.popleft()[0]
                if not waiting.done():  # its caller may have given up
                    if isinstance(reply, Exception):
                        waiting.set_exception(reply)
                    else:
                        waiting.set_result(reply)
        except Exception as exc:  # noqa: BLE001 - each waiting call gets it
            await self._drop(connection, exc)

    async def _drop(
        self,
        connection: Any,  # noqa: ANN401 - a redis-py connection
        error: BaseException,
        *,
        unsent_too: bool = False,
    ) -> None:
        """Forget `connection` (if still ours), failing every call that waits on it."""
        if connection is None or connection is not self._connection:
            return
        if not isinstance(error, self._errors.RedisError):
            error = self._errors.ConnectionError(f"{type(error).__name__}: {error}")
        self._connection = None
        waiting = [reply for reply, _ in self._in_flight]
        waiting += self._unsent if unsent_too else ()
        self._in_flight.clear()
        if unsent_too:
            self._outbox, self._unsent = [], []
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        for reply in waiting:
            if not reply.done():
                reply.set_exception(error)
        await connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        """Close the connection (a later call opens a new one)."""
        await self._drop(self._connection, self._errors.ConnectionError("the store was closed"))
