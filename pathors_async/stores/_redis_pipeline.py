"""`PipelinedCaller`: every call of a `RedisStore` on one connection, written together.

Concurrent turns each send a command or two; sent one by one, each costs a
``send`` and a ``recv`` system call, which on a busy client is most of what a
Redis call costs. Here the commands that arrive in one turn of the event loop go
out in one write, in order, and one reader task hands each reply to its caller
in the same order (a caller that gave up, by cancellation or timeout, has its
reply read and dropped, so none is ever handed to the wrong caller). The
connection is a `RedisConnection` (``_redis_conn``), set up as the URL says, as
redis-py reads it; each piece the socket delivers is read at once, every reply
in it handed over in one go.

A connection that fails is dropped with every call written to it; those calls
try once more on a new one if the connection had served before (an idle
connection the server closed), unless the call is not safe to repeat (a
`LuaScript` not ``repeatable``) or `aclose` failed it, and fail otherwise. The
URL's ``socket_timeout`` (redis-py's default when it has none) bounds each call
as a whole, from the moment it is submitted: one timer watches the oldest call,
instead of a timer per call. A call that runs out of it drops the connection
too, since the server may be gone, and a write stuck on it (a server that
stopped reading) is cancelled; calls not written yet go out on a new connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._redis_conn import RedisConnection, settings_for
from ._redis_wire import Arg, LuaScript, Orphan, hand_over, pack

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

__all__ = ["PipelinedCaller"]


class PipelinedCaller:
    """One pipelined connection to the Redis of `pool` (its URL), made on first use.

    Args:
        pool: redis-py's pool for the URL: where the settings come from (it opens nothing).
    """

    def __init__(self, pool: ConnectionPool) -> None:
        from redis import exceptions  # noqa: PLC0415 - the extra is optional

        self._errors = exceptions
        self._settings = settings_for(pool)
        self._timeout = self._settings.timeout
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the tasks below run in
        self._connection: RedisConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._outbox: list[bytes] = []
        # each call not yet written, then written and not yet answered, with the time its
        # reply is due by (socket_timeout after it was submitted)
        self._unsent: list[tuple[asyncio.Future[Any], float]] = []
        self._in_flight: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._closes = 0  # aclose calls: a call failed by one is not sent again
        # calls whose caller was cancelled, and what to do with their replies when they come
        self._orphans: dict[asyncio.Future[Any], Orphan] = {}

    async def script(
        self,
        script: LuaScript,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        *,
        orphan: Orphan | None = None,
    ) -> Any:  # noqa: ANN401
        """Run `script` by its SHA-1, or by its source when the server does not know it.

        If the caller is cancelled, the call still runs to its end (by its source
        too, if need be); its reply goes to `orphan` (see `Caller.script`).
        """
        closes = self._closes

        def caller_gone(reply: object) -> None:
            if isinstance(reply, self._errors.NoScriptError):  # it did not run: run it now,
                if closes == self._closes:  # unless the store was closed meanwhile
                    self._send_for_nobody(script.packed(keys, args, by_sha=False), orphan)
            elif orphan is not None:
                orphan(reply)

        try:
            return await self._call(
                script.packed(keys, args), repeatable=script.repeatable, orphan=caller_gone
            )
        except self._errors.NoScriptError:
            packed = script.packed(keys, args, by_sha=False)
            return await self._call(packed, repeatable=script.repeatable, orphan=orphan)

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command (only plain reads and deletes: they are sent again after a drop)."""
        return await self._call(pack(*parts))

    async def _call(
        self, packed: bytes, *, repeatable: bool = True, orphan: Orphan | None = None
    ) -> Any:  # noqa: ANN401
        served = self._connection is not None
        closes = self._closes
        for attempt in (1, 2):
            reply = self._submit(packed)
            if orphan is not None:
                # Known before any await: a reply coming once the caller is cancelled (its
                # future cancelled) goes to `orphan` from `_read`, before the caller hears of it.
                self._orphans[reply] = orphan
            try:
                return await reply
            except asyncio.CancelledError:
                if orphan is not None and not reply.cancelled():  # delivered as it was cancelled
                    hand_over(orphan, reply.exception() or reply.result())
                raise
            except self._errors.ConnectionError:
                if attempt == 2 or not (served and repeatable) or closes != self._closes:
                    raise  # a new connection, a call not safe to repeat, or the store was closed
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send_for_nobody(self, packed: bytes, orphan: Orphan | None) -> None:
        """Send a call nobody awaits; its reply goes to `orphan` (or is dropped)."""
        reply = self._submit(packed)
        if orphan is not None:
            self._orphans[reply] = orphan
        reply.cancel()  # as if its caller were cancelled: `_read` hands the reply over

    def _submit(self, packed: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start_over(loop)
        reply = loop.create_future()
        self._outbox.append(packed)
        if self._timeout is None:
            self._unsent.append((reply, 0.0))
        else:  # bounded from now, even while an earlier write is stuck
            deadline = loop.time() + self._timeout
            self._unsent.append((reply, deadline))
            if self._watchdog is None:
                self._watchdog = loop.call_at(deadline, self._watch)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return reply

    def _start_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Leave the connection, tasks and calls of another event loop behind.

        That loop may not have ended, and may even run in another thread: its
        connection is closed, its tasks cancelled and its calls failed on it (as
        soon as it runs again), and the calls of this loop get queues of their
        own, so that nothing of the old one reaches them.
        """
        old = self._loop
        left = _LeftBehind(
            connection=self._connection,
            tasks=[task for task in (self._reader, self._flusher) if task is not None],
            watchdog=self._watchdog,
            calls=[reply for reply, _ in (*self._in_flight, *self._unsent)],
            error=self._errors.ConnectionError("the store was used from another event loop"),
        )
        if old is not None and not old.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile (another thread)
                old.call_soon_threadsafe(left.end)
        self._loop = loop
        self._connection = self._reader = self._flusher = self._watchdog = None
        self._outbox, self._unsent = [], []
        self._in_flight = collections.deque()
        self._orphans = {}

    def _watch(self) -> None:
        """Fail the calls that waited `_timeout` seconds, dropping the connection they wait on."""
        self._watchdog = None
        waiting = self._in_flight or self._unsent
        if not waiting:
            return
        loop = asyncio.get_running_loop()
        now, deadline = loop.time(), waiting[0][1]
        if now < deadline:
            self._watchdog = loop.call_at(deadline, self._watch)
            return
        error = self._errors.TimeoutError(
            f"no reply within {self._timeout:g} s (the URL's socket_timeout)"
        )
        late = 0  # calls never written (a write before them is stuck) that ran out of time too
        while late < len(self._unsent) and self._unsent[late][1] <= now:
            late += 1
        for reply, _ in self._unsent[:late]:
            self._orphans.pop(reply, None)  # no reply will come
            if not reply.done():
                reply.set_exception(error)
        del self._unsent[:late], self._outbox[:late]
        self._drop(self._connection, error)
        if self._unsent:
            self._watchdog = loop.call_at(self._unsent[0][1], self._watch)

    async def _flush(self) -> None:
        """Write what was submitted, in order, connecting first if need be."""
        connection = self._connection
        ended = False
        try:
            if connection is None:
                connection = self._connection = RedisConnection(self._settings)
            while self._outbox and connection is self._connection:
                packed, self._outbox = self._outbox, []
                self._in_flight.extend(self._unsent)
                self._unsent = []
                await connection.send(b"".join(packed))  # connects first
                reader = self._reader
                if (reader is None or reader.done()) and connection is self._connection:
                    # not dropped since: its replies need a reader
                    self._reader = asyncio.get_running_loop().create_task(self._read(connection))
        except asyncio.CancelledError:  # the event loop is ending, or the connection was dropped
            ended = True
            raise
        except Exception as exc:  # noqa: BLE001 - each waiting call gets it
            self._drop(connection, exc, unsent_too=True)
        finally:
            if self._flusher is asyncio.current_task():  # not replaced by a drop
                self._flusher = None
                if self._outbox and not ended:  # submitted meanwhile
                    self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _read(self, connection: RedisConnection) -> None:
        """Hand each reply to the call that waits for it, in order, until the connection ends."""
        in_flight, orphans = self._in_flight, self._orphans
        try:
            while True:
                for reply in await connection.replies():  # an error reply: that call's
                    if not in_flight:
                        error = self._errors.ConnectionError("a reply that was never asked for")
                        self._drop(connection, error)
                        return
                    waiting = in_flight.popleft()[0]
                    orphan = orphans.pop(waiting, None) if orphans else None
                    if not waiting.done():  # its caller may have given up
                        if isinstance(reply, Exception):
                            waiting.set_exception(reply)
                        else:
                            waiting.set_result(reply)
                    elif orphan is not None:
                        hand_over(orphan, reply)  # its caller was cancelled
        except asyncio.CancelledError:  # dropped, the event loop ending, or a shutdown:
            connection.disconnect()  # closed now; the next call makes a new one
            error = self._errors.ConnectionError("the store's reader task was cancelled")
            self._drop(connection, error, unsent_too=True)
            raise
        except Exception as exc:  # noqa: BLE001 - each waiting call gets it
            self._drop(connection, exc)

    def _drop(
        self, connection: RedisConnection | None, error: BaseException, *, unsent_too: bool = False
    ) -> None:
        """Close `connection` if it is still ours, failing every call written to it.

        Its reader and flusher (which may be stuck writing, or connecting) are
        cancelled; calls not yet written go out on a new connection, unless
        `unsent_too` fails them as well.
        """
        if connection is not self._connection:
            return
        if connection is not None:
            connection.disconnect()
        if not isinstance(error, self._errors.RedisError):
            error = self._errors.ConnectionError(f"{type(error).__name__}: {error}")
        self._connection = None
        waiting = [reply for reply, _ in self._in_flight]
        self._in_flight.clear()
        if unsent_too:
            waiting += [reply for reply, _ in self._unsent]
            self._outbox, self._unsent = [], []
        tasks = (self._reader, self._flusher)
        self._reader = self._flusher = None
        for task in tasks:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for reply in waiting:
            self._orphans.pop(reply, None)  # no reply will come
            if not reply.done():
                reply.set_exception(error)
        if self._outbox:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def aclose(self) -> None:
        """Close the connection, failing every call not answered yet (a later call opens a new one).

        The calls it fails are not sent again.
        """
        self._closes += 1
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # what another event loop left is gone with it
            self._start_over(loop)
        error = self._errors.ConnectionError("the store was closed")
        self._drop(self._connection, error, unsent_too=True)


@attrs.define
class _LeftBehind:
    """What a `PipelinedCaller` leaves on an event loop it is no longer used from."""

    connection: RedisConnection | None
    tasks: list[asyncio.Task[None]]
    watchdog: asyncio.TimerHandle | None
    calls: list[asyncio.Future[Any]]
    error: Exception

    def end(self) -> None:
        """Close, cancel and fail all of it (on its own loop)."""
        if self.connection is not None:
            self.connection.disconnect()
        if self.watchdog is not None:
            self.watchdog.cancel()
        for task in self.tasks:
            task.cancel()
        for call in self.calls:
            if not call.done():
                call.set_exception(self.error)
