"""`RedisStore`: conversations in Redis, shared by workers on any number of hosts.

Needs the ``redis`` extra (``pip install 'pathors-async[redis]'``, redis-py's
asyncio client). Taking a lease (with the conversation), renewing it, releasing
it and the fenced save are each one Lua script, atomic on the server: a turn
costs two round trips, renewals aside. With a URL, every call goes out on one
connection of the store's own, pipelined with the calls of concurrent turns
(`PipelinedCaller`); with ``client=``, through that client.

Keys, for a conversation ``K`` under the prefix ``P``: ``P{K}:lease`` (the
holder's token, expiring after the lease's ttl), ``P{K}:fence`` (the last token
given, incremented by each acquire) and ``P{K}:data`` (the JSON). The braces make
them one hash slot, so the scripts also run on Redis Cluster. With ``idle_ttl``,
the fence is kept for ``idle_ttl`` beyond the lease (refreshed by acquire, renew
and save), so it outlives the data and tokens only grow while the data exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from pathors_async._errors import StoreError
from pathors_async._redact import Redactor

from ._protocol import (
    Lease,
    check_key,
    check_lease,
    check_seconds,
    decode,
    encode_bytes,
    lease_lost,
)
from ._redis_pool import DEFAULT_MAX_CONNECTIONS, check_max_connections, connections_for_url
from ._redis_rate import RedisRateLimit
from ._redis_wire import Arg, Caller, ClientCaller, LuaScript, wrong_reply
from ._waiting import Wakeups, release_orphan, wait_for_lease

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

T = TypeVar("T")

ACQUIRE: Final = LuaScript(
    repeatable=False,
    keys=3,
    args=3,
    source="""
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, false} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3] + ARGV[1]) end
local data = false
if ARGV[2] == '1' then data = redis.call('GET', KEYS[3]) end
return {token, data}
""",
)
RENEW: Final = LuaScript(
    keys=2,
    args=3,
    source="""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3] + ARGV[2]) end
return 1
""",
)
RELEASE: Final = LuaScript(
    keys=1,
    args=1,
    source="""
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
""",
)
SAVE: Final = LuaScript(
    keys=3,
    args=4,
    source="""
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
    redis.call('PEXPIRE', KEYS[2], ARGV[4] + math.max(redis.call('PTTL', KEYS[1]), 0))
else
    redis.call('SET', KEYS[3], ARGV[2])
end
if ARGV[3] == '1' and redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
""",
)


def _safe_url(url: str) -> str:
    """The URL without user or password, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _redactors(url: str, client: Redis | None) -> tuple[Redactor, ...]:
    """What removes the URL's (or the client's) password and user name from error texts."""
    if client is not None:
        pool = getattr(client, "connection_pool", None)  # a cluster client has none
        settings: dict[str, Any] = getattr(pool, "connection_kwargs", {})
        secrets: tuple[object, ...] = (settings.get("password"), settings.get("username"))
    else:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)  # redis-py also takes ?password=&username=
        secrets = (
            *(urllib.parse.unquote(part) for part in (parts.password, parts.username) if part),
            *query.get("password", ()),
            *query.get("username", ()),
            *_as_redis_py_reads_them(url),
        )
    # "default" is the name Redis gives every connection without one: nothing to hide
    return tuple(Redactor(s) for s in secrets if isinstance(s, str) and s and s != "default")


def _text_of(error: BaseException) -> str:
    """``str(error)``, or its type's name if even that fails."""
    try:
        return str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ says nothing
        return type(error).__name__


def _as_redis_py_reads_them(url: str) -> tuple[object, ...]:
    """The password and user name as redis-py reads them from `url` (what AUTH sends)."""
    try:
        from redis.asyncio import ConnectionPool  # noqa: PLC0415 - the extra is optional

        settings = ConnectionPool.from_url(url).connection_kwargs
    except (ImportError, ValueError, TypeError):  # no redis-py, or a URL it refuses (said later)
        return ()
    return settings.get("password"), settings.get("username")


def _acquired(key: str, reply: object) -> tuple[int, bytes | str | None]:
    """The token (0: taken) and the saved data of ACQUIRE's `reply`, checked."""
    if isinstance(reply, (list, tuple)) and len(reply) == 2:  # {token, data}
        token, data = reply
        if isinstance(token, int) and not isinstance(token, bool) and token >= 0:
            if data is None or data is False:
                return token, None
            if isinstance(data, (bytes, str)):
                return token, data
    raise wrong_reply("ACQUIRE", reply, key=key)


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisStore:
    """A `ConversationStore` in Redis: for many workers on many hosts.

    Args:
        url: A redis-py URL, e.g. ``"redis://localhost:6379/0"`` (``rediss://`` for
            TLS); its password is never shown in a repr or an error.
        prefix: Put before every key this store writes.
        idle_ttl: Forget a conversation this many seconds after its last save
            (None: keep it). Keep it far longer than ``lock_ttl``.
        client: A `redis.asyncio.Redis` of your own, used instead of `url` (it is
            not closed by `aclose`); calls go through its ``execute_command``, with
            its pool, retries and cluster routing.
        max_connections: Connections to `url` open at most. The store needs one:
            it pipelines every call on it, so calls never wait for a connection
            nor fail for want of one. Not used with ``client=``.

    Raises:
        ImportError: redis-py is not installed.
        ValueError: `prefix` has braces or `max_connections` is below 1.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "pathors:conversation:",
        idle_ttl: float | None = None,
        client: Redis | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        check_max_connections(max_connections)
        if "{" in prefix or "}" in prefix:
            raise ValueError(
                f"prefix must not contain braces (they pick the hash slot): {prefix!r}"
            )
        self.prefix = prefix
        self.idle_ttl = None if idle_ttl is None else check_seconds("idle_ttl", idle_ttl)
        self._where = _safe_url(url) if client is None else "a given client"
        self._redactors = _redactors(url, client)
        self._redis: Caller = (
            ClientCaller(client)
            if client is not None
            else connections_for_url(url, needed_by="RedisStore")
        )
        self._wakeups = Wakeups()
        self._rate = RedisRateLimit(self._redis, prefix)
        from redis.exceptions import AuthenticationError, RedisError  # noqa: PLC0415 - optional

        self._failures = (RedisError, OSError)
        self._refused = AuthenticationError

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"

    def _keys(self, key: str) -> tuple[bytes, bytes, bytes]:
        base = f"{self.prefix}{{{key}}}".encode()
        return base + b":lease", base + b":fence", base + b":data"

    @property
    def _idle_ms(self) -> int:
        return 0 if self.idle_ttl is None else _millis(self.idle_ttl)

    async def _call(self, key: str, request: Awaitable[T]) -> T:
        try:
            return await request
        except self._failures as exc:
            said, chain_clean = self._scrub(exc)
            hint = (
                "check the user name and password in the URL"
                if isinstance(exc, self._refused) or said.startswith("NOAUTH")
                else "check that the server is up and reachable"
            )
            error = StoreError(
                f"Redis store at {self._where} failed: {type(exc).__name__}: {said}; {hint}",
                key=key,
            )
            if chain_clean:
                raise error from exc
        raise error from None  # raised outside the except block, as little chained as can be

    def _clean(self, text: str) -> str:
        for redactor in self._redactors:
            text = redactor.text(text)
        return text

    def _scrub(self, error: BaseException) -> tuple[str, bool]:
        """`error`'s text without the password and user name; whether its chain is free of them.

        They are taken out of `error` and of every error chained to it, in place:
        a server may write them back (an echoed ``AUTH``), and a traceback prints
        the whole chain, wherever the `StoreError` raised from it was raised.
        """
        said = self._clean(_text_of(error))
        clean, seen = True, set()
        chain: list[BaseException | None] = [error]
        while chain:
            current = chain.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            text = _text_of(current)
            cleaned = self._clean(text)
            if cleaned != text:
                with contextlib.suppress(Exception):  # an error that will not be changed
                    current.args = (cleaned,)
                    if isinstance(current, OSError):  # printed from these, not from args
                        current.strerror = current.filename = current.filename2 = None
                now = _text_of(current)
                clean = clean and self._clean(now) == now
            chain += (current.__cause__, current.__context__)
        return said, clean

    async def acquire(self, key: str, *, ttl: float, wait: float, load: bool = False) -> Lease:
        """Take the lease on `key` (see `ConversationStore.acquire`): one round trip."""
        check_key(key)
        ttl = check_seconds("ttl", ttl)
        wait = check_seconds("wait", wait, allow_zero=True)
        keys, args = self._keys(key), (_millis(ttl), int(load), self._idle_ms)

        def give_back(reply: object) -> None:  # the reply of a cancelled caller's ACQUIRE
            if isinstance(reply, Exception):
                return  # an error reply: no lease was taken
            with contextlib.suppress(StoreError):
                token, _ = _acquired(key, reply)
                if token:
                    release_orphan(Lease(key=key, token=token, expires_at=0.0), self.release)

        async def try_once() -> Lease | None:
            expires_at = time.time() + ttl
            reply = await self._call(key, self._redis.script(ACQUIRE, keys, args, orphan=give_back))
            token, data = _acquired(key, reply)
            if not token:
                return None
            if data is None:
                return Lease(key=key, token=token, expires_at=expires_at)
            try:
                loaded = decode(key, data)
            except StoreError:  # a damaged record: give the lease back
                lease = Lease(key=key, token=token, expires_at=expires_at)
                try:
                    await self.release(lease)
                except asyncio.CancelledError:
                    release_orphan(lease, self.release)
                    raise
                raise
            return Lease(key=key, token=token, expires_at=expires_at, data=loaded)

        # No task per call: a lease taken for a cancelled caller goes to give_back.
        lease = await try_once()  # most often free: no waiting machinery
        if lease is not None:
            return lease
        return await wait_for_lease(key, wait, try_once, self._wakeups, missed=True)

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (see `ConversationStore.renew`).

        Raises:
            LeaseLost: The lease was released, or it expired (even if nobody took it since).
        """
        ttl = check_seconds("ttl", ttl)
        expires_at = time.time() + ttl
        keys = self._keys(lease.key)[:2]
        args = (lease.token, _millis(ttl), self._idle_ms)
        renewed = await self._call(lease.key, self._redis.script(RENEW, keys, args))
        if not renewed:
            raise lease_lost(lease.key, lease.token)
        return attrs.evolve(lease, expires_at=expires_at, data=None)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (see `ConversationStore.release`)."""
        lease_key = self._keys(lease.key)[:1]
        await self._call(lease.key, self._redis.script(RELEASE, lease_key, (lease.token,)))
        self._wakeups.notify(lease.key)

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the saved data of `key`, or None."""
        data_key = self._keys(check_key(key))[2]
        data = await self._call(key, self._redis.command(b"GET", data_key))
        if data is None:
            return None
        if not isinstance(data, (bytes, str)):
            raise wrong_reply("GET", data, key=key)
        return decode(key, data)

    async def save(
        self, key: str, data: dict[str, Any], lease: Lease, *, release: bool = False
    ) -> None:
        """Save `data`, fenced by `lease` (see `ConversationStore.save`): one round trip."""
        check_lease(check_key(key), lease)
        keys = self._keys(key)
        args: tuple[Arg, ...] = (lease.token, encode_bytes(data), int(release), self._idle_ms)
        saved = await self._call(key, self._redis.script(SAVE, keys, args))
        if not saved:
            raise lease_lost(key, lease.token)
        if release:
            self._wakeups.notify(key)

    async def delete(self, key: str) -> None:
        """Remove the saved data of `key` (the fence stays, so tokens keep growing)."""
        data_key = self._keys(check_key(key))[2]
        await self._call(key, self._redis.command(b"DEL", data_key))

    async def rate_limit_reserve(
        self, *, interval: float, tolerance: float, recheck: bool = False
    ) -> float:
        """Take a slot of the `RateLimit` budget shared through this store (one round trip).

        Every process using the same Redis and `prefix` shares the budget, on the
        server's clock. Used by ``RateLimit(shared=store)``; see `SharedRateLimit`.

        Returns:
            Seconds to wait for the slot.
        """
        where = self._rate.keys[0].decode()
        return await self._call(
            where, self._rate.reserve(interval=interval, tolerance=tolerance, recheck=recheck)
        )

    async def rate_limit_pause(self, seconds: float, *, tolerance: float) -> None:
        """Pause the shared `RateLimit` budget for `seconds` (a 429's ``Retry-After``)."""
        where = self._rate.keys[1].decode()
        await self._call(where, self._rate.pause(seconds, tolerance=tolerance))

    async def aclose(self) -> None:
        """Close the connection pool (not a client given as ``client=``)."""
        await self._redis.aclose()
