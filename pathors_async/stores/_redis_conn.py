"""`RedisConnection`: one socket to the Redis of a URL, speaking RESP2, replies read in bulk.

redis-py reads a reply through several coroutine layers and a line at a time,
about 10 us for the two-item reply of taking a lease: more than the rest of the
store's work for that call. `PipelinedCaller` reads every reply that came in
one piece at once, through a `RespReader`, on this connection of its own.

What the connection is follows from the URL exactly as redis-py reads it
(``ConnectionPool.from_url``: host and port, or a unix socket path; TLS with
``rediss://`` and its ``ssl_*`` options, through redis-py's own TLS settings;
user name and password; database; ``client_name``; ``socket_connect_timeout``;
``socket_keepalive``). On connecting it says ``AUTH``, ``CLIENT SETNAME`` and
``SELECT`` as the URL needs them, and nothing else: the replies stay RESP2,
whatever ``protocol`` the URL asks for. Its errors are redis-py's
(``ConnectionError``, ``TimeoutError``, ``AuthenticationError``; an error reply
as ``ResponseError`` or ``NoScriptError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import TYPE_CHECKING, Any

from ._redis_wire import pack
from ._resp import ProtocolError, RespReader

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

__all__ = ["RedisConnection", "Settings", "settings_for"]

_READ_SIZE = 256 * 1024  # bytes asked of the socket at once


class Settings:
    """Where and how to connect, from a redis-py connection made (not opened) for the URL.

    Attributes:
        host, port: The TCP address (unused with `path`).
        path: A unix socket's path, or None.
        handshake: The commands sent first (``AUTH``, ``CLIENT SETNAME``, ``SELECT``).
        connect_timeout: Seconds to connect and say the handshake, or None.
        timeout: The URL's ``socket_timeout`` (a call's bound, from its submission).
        keepalive: TCP keepalive options, or None to leave it off.
        problem: Why no connection can be made with these settings (every
            connection fails with it, as redis-py's would on first use), or None.
    """

    def __init__(self, probe: Any, *, problem: str | None = None) -> None:  # noqa: ANN401 - redis-py's
        self.problem = problem
        self.path: str | None = getattr(probe, "path", None)
        self.host: str = getattr(probe, "host", "")
        self.port: int = getattr(probe, "port", 0)
        self._tls: Any = getattr(probe, "ssl_context", None)  # redis-py's RedisSSLContext
        self.handshake: list[tuple[bytes, bytes]] = []  # (the command, its name for errors)
        self.connect_timeout: float | None = None
        self.timeout: float | None = None
        self.keepalive: dict[int, int] | None = None
        if probe is None:
            return
        username, password = probe.username, probe.password
        if username or password:  # as redis-py: a user name alone is AUTH name ""
            auth = (b"AUTH", username, password or "") if username else (b"AUTH", password)
            self.handshake.append((pack(*auth), b"AUTH"))
        if probe.client_name:
            self.handshake.append((pack(b"CLIENT", b"SETNAME", probe.client_name), b"CLIENT"))
        if probe.db:
            self.handshake.append((pack(b"SELECT", int(probe.db)), b"SELECT"))
        self.connect_timeout = probe.socket_connect_timeout or None
        self.timeout = probe.socket_timeout or None
        self.keepalive = (
            dict(getattr(probe, "socket_keepalive_options", None) or {})
            if getattr(probe, "socket_keepalive", False)
            else None
        )

    def tls(self) -> tuple[ssl.SSLContext, str | None] | None:
        """The TLS context and the host name to check (None: no check), or None for plain TCP.

        Made on first use (it reads the URL's certificate files), then kept by redis-py.

        Raises:
            OSError: A certificate file cannot be read (``ssl.SSLError`` too).
            redis.exceptions.RedisError: The TLS settings are not valid.
        """
        if self._tls is None:
            return None
        return self._tls.get(), self.host if self._tls.check_hostname else None


def settings_for(pool: ConnectionPool) -> Settings:
    """The `Settings` of `pool`'s URL; if redis-py cannot make a connection of it, why."""
    from redis.exceptions import RedisError  # noqa: PLC0415 - the extra is optional

    try:
        probe = pool.make_connection()  # type: ignore[no-untyped-call]  # its settings only
    except (RedisError, ValueError, TypeError) as exc:  # e.g. ssl_cert_reqs=bogus
        return Settings(None, problem=f"the URL's settings cannot be used: {exc}")
    return Settings(probe)


class RedisConnection:
    """One connection, opened by the first `send`.

    Args:
        settings: Where and how to connect.
    """

    def __init__(self, settings: Settings) -> None:
        from redis import exceptions  # noqa: PLC0415 - the extra is optional

        self._errors = exceptions
        self._settings = settings
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closed = False  # by `disconnect`: for good, even if connecting goes on
        self._replies = RespReader(self._error_reply)

    def _error_reply(self, text: str) -> Exception:
        """The exception for an error reply (as redis-py's, its text kept whole)."""
        if text.startswith("NOSCRIPT"):
            return self._errors.NoScriptError(text)
        return self._errors.ResponseError(text)

    async def send(self, packed: bytes) -> None:
        """Write `packed` (connecting first if need be) and wait until the socket takes it.

        Raises:
            redis.exceptions.ConnectionError: Connecting, the handshake or the write failed.
            redis.exceptions.TimeoutError: Connecting took longer than ``socket_connect_timeout``.
        """
        if self._closed:
            raise self._errors.ConnectionError("the connection was closed")
        if self._writer is None:
            await self._connect()
        writer = self._writer
        if writer is None:  # closed meanwhile
            raise self._errors.ConnectionError("the connection was closed")
        try:
            writer.write(packed)
            await writer.drain()
        except OSError as exc:
            raise self._errors.ConnectionError(f"writing to Redis failed: {exc}") from exc

    async def replies(self) -> list[Any]:
        """Wait for the next replies; return every one that is complete (at least one).

        Raises:
            redis.exceptions.ConnectionError: The server closed the connection, it
                failed, or the server sent something that is not RESP.
        """
        reader = self._reader
        if reader is None:
            raise self._errors.ConnectionError("not connected")
        while True:
            try:
                data = await reader.read(_READ_SIZE)
            except OSError as exc:
                raise self._errors.ConnectionError(f"reading from Redis failed: {exc}") from exc
            if not data:
                raise self._errors.ConnectionError("the server closed the connection")
            try:
                replies = self._replies.feed(data)
            except ProtocolError as exc:
                raise self._errors.ConnectionError(
                    f"the server's reply is not RESP: {exc}"
                ) from exc
            if replies:
                return replies

    async def _connect(self) -> None:
        settings = self._settings
        if settings.problem is not None:
            raise self._errors.ConnectionError(settings.problem)
        try:
            await asyncio.wait_for(self._open_and_say_handshake(), settings.connect_timeout)
        except asyncio.TimeoutError as exc:  # wait_for's own: the OS's is a ConnectionError
            self.disconnect()
            raise self._errors.TimeoutError(
                f"connecting to Redis took more than {settings.connect_timeout:g} s "
                "(the URL's socket_connect_timeout)"
            ) from exc
        except BaseException:  # a cancellation too: nothing half-open is left behind
            self.disconnect()
            raise
        if self._closed:  # closed as it connected (wait_for may not say, Python < 3.12)
            self.disconnect()
            raise self._errors.ConnectionError("the connection was closed")

    async def _open_and_say_handshake(self) -> None:
        try:
            await self._open()
            await self._say_handshake()
        except OSError as exc:  # ssl.SSLError, and the OS's own connect timeout
            raise self._errors.ConnectionError(f"connecting to Redis failed: {exc}") from exc

    async def _open(self) -> None:
        settings = self._settings
        if settings.path is not None:
            reader, writer = await asyncio.open_unix_connection(settings.path, limit=_READ_SIZE)
        else:
            context, hostname = settings.tls() or (None, None)
            reader, writer = await asyncio.open_connection(
                settings.host,
                settings.port,
                ssl=context,
                server_hostname=hostname if context is not None else None,
                limit=_READ_SIZE,
            )
        if self._closed:  # while it opened
            writer.transport.abort()
            raise self._errors.ConnectionError("the connection was closed")
        self._reader, self._writer = reader, writer
        if settings.path is not None:
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if settings.keepalive is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for option, value in settings.keepalive.items():
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)

    async def _say_handshake(self) -> None:
        """Send the handshake's commands together; fail on the first error reply."""
        handshake = self._settings.handshake
        if not handshake:
            return
        await self.send(b"".join(command for command, _ in handshake))
        answered: list[Any] = []
        while len(answered) < len(handshake):
            answered += await self.replies()
        for (_, name), reply in zip(handshake, answered, strict=False):
            if isinstance(reply, self._errors.ResponseError):
                error = (
                    self._errors.AuthenticationError
                    if name == b"AUTH"
                    else self._errors.ConnectionError
                )
                raise error(f"the server refused {name.decode()}: {reply}")
        if len(answered) > len(handshake):
            raise self._errors.ConnectionError("the server answered more than it was asked")

    def disconnect(self) -> None:
        """Close the connection at once, for good (a call still waiting on it fails)."""
        self._closed = True
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed: nothing to do
                writer.transport.abort()
