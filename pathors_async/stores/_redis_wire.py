"""How `RedisStore` talks to Redis: Lua calls packed from cached bytes, through a `Caller`.

redis-py's ``Script.__call__`` and ``Redis.execute_command`` cost more client CPU
than a turn's two Lua calls are worth: every argument encoded one by one, the
pool's locking, its observability hooks. `LuaScript` keeps each script's
``EVALSHA`` (and ``EVAL``) command head packed once, and `pack` packs a plain
command, both as redis-py's ``pack_command`` would. A `Caller` runs them: with a
URL, `PipelinedCaller` (``_redis_pipeline``) writes them on one connection of the
store's own, pipelined with the calls of concurrent turns; with ``client=``,
`ClientCaller` sends them through the user's client, with its pool, retries and
cluster routing. Both reload a script the server forgot (a restart,
``SCRIPT FLUSH``) with one ``EVAL``. A script marked not ``repeatable`` (taking a
lease, reserving a rate-limit slot) is never sent again once it may have reached
the server. A call whose caller is cancelled still runs to its end (the ``EVAL``
included); its reply can go to an `Orphan` (taking a lease: give it back), so
the pipelined caller needs no task per call. `wrong_reply` is the error for a
reply no Redis running our script sends.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, Union

from pathors_async._errors import StoreError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "Arg",
    "Caller",
    "ClientCaller",
    "LuaScript",
    "Orphan",
    "hand_over",
    "pack",
    "wrong_reply",
]

Arg = Union[bytes, str, int]  # noqa: UP007 - a runtime alias, and Python 3.10 is supported

#: What to do with the reply of a call whose caller was cancelled (called on the event loop);
#: an error reply comes as the exception.
Orphan = Callable[[Any], object]


def hand_over(orphan: Orphan, reply: object) -> None:
    """Give `reply` to `orphan` soon, on the event loop; what it raises is the loop's to log."""
    asyncio.get_running_loop().call_soon(orphan, reply)


def wrong_reply(what: str, reply: object, *, key: str) -> StoreError:
    """The error for a reply to `what` that no Redis running our script sends.

    It gives the reply's shape, not its content: a server may write a password back.
    """
    return StoreError(
        f"the server's reply to {what} was not what it should be: {_shape(reply)}; "
        "check that the URL points at a Redis server (or a proxy that passes scripts through)",
        key=key,
    )


def _shape(reply: object, *, depth: int = 0) -> str:
    """What `reply` is, without what it holds: e.g. ``a list of 2 (int, 5 bytes)``."""
    if isinstance(reply, (bytes, str)):
        return f"{len(reply)} {'bytes' if isinstance(reply, bytes) else 'characters'}"
    if isinstance(reply, (list, tuple)):
        items = ", ".join(_shape(item, depth=depth + 1) for item in reply[:4]) if depth < 2 else ""
        more = ", …" if len(reply) > 4 else ""
        return f"a list of {len(reply)}" + (f" ({items}{more})" if items else "")
    return "nothing" if reply is None else type(reply).__name__


#: Bulk string headers for the lengths most arguments have: formatting one costs more
#: than the rest of packing it.
_HEADS: Final = tuple(b"$%d\r\n" % size for size in range(512))


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _add_bulks(parts: list[bytes], values: Iterable[Arg]) -> None:
    """Append each of `values` to `parts` as a bulk string (its header, itself, CRLF)."""
    append, known = parts.append, len(_HEADS)
    for value in values:
        data = value if isinstance(value, bytes) else to_bytes(value)
        size = len(data)
        append(_HEADS[size] if size < known else b"$%d\r\n" % size)
        append(data)
        append(b"\r\n")


def to_bytes(value: Arg) -> bytes:
    """`value` as Redis receives it: bytes as they are, text as UTF-8, a number in decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b"%d" % value


def pack(*parts: Arg) -> bytes:
    """One command in RESP, ready to be written."""
    packed = [b"*%d\r\n" % len(parts)]
    _add_bulks(packed, parts)
    return b"".join(packed)


class LuaScript:
    """A Lua script called with a fixed number of keys and arguments, its command heads cached.

    Args:
        source: The Lua text.
        keys: How many keys every call passes.
        args: How many arguments every call passes.
        repeatable: Whether running it twice does no harm, so that a call whose
            reply was lost with its connection may be sent again.
    """

    def __init__(self, source: str, *, keys: int, args: int, repeatable: bool = True) -> None:
        self.source = source
        self.repeatable = repeatable
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
        packed = [self._by_sha if by_sha else self._by_source]
        _add_bulks(packed, keys)
        _add_bulks(packed, args)
        return b"".join(packed)


class Caller(Protocol):
    """Runs scripts and plain commands on one Redis; its errors are redis-py's."""

    async def script(
        self,
        script: LuaScript,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        *,
        orphan: Orphan | None = None,
    ) -> Any:  # noqa: ANN401
        """Run `script`; return its reply.

        A cancelled caller does not stop the call: it runs to its end (by its
        source after ``NOSCRIPT`` too), and its reply (an error reply as the
        exception) goes to `orphan` if given, also when it came in the very loop
        iteration the caller was cancelled.
        """
        ...  # pragma: no cover - a protocol

    async def command(self, *parts: Arg) -> Any:  # noqa: ANN401
        """Run one command; return its reply."""
        ...  # pragma: no cover - a protocol

    async def aclose(self) -> None:
        """Let go of the connections."""
        ...  # pragma: no cover - a protocol


class ClientCaller:
    """The commands sent through a `redis.asyncio.Redis` the user gave (not closed here)."""

    def __init__(self, client: Redis) -> None:
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - the extra is optional

        self._no_script = NoScriptError
        self._client: Any = client  # redis-py's own types are too loose to help here

    async def script(
        self,
        script: LuaScript,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        *,
        orphan: Orphan | None = None,
    ) -> Any:  # noqa: ANN401
        """Run `script` by its SHA-1, or by its source when the server does not know it.

        The call runs in a task of its own that a cancelled caller leaves to finish
        (see `Caller.script`).
        """
        task = asyncio.ensure_future(self._run(script, keys, args))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: _to_orphan(done, orphan))
            raise

    async def _run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:  # noqa: ANN401
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


def _to_orphan(done: asyncio.Future[Any], orphan: Orphan | None) -> None:
    if done.cancelled():
        return
    reply = done.exception() or done.result()
    if orphan is not None:
        orphan(reply)
