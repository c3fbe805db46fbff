"""A tiny raw HTTP/1.1 server on 127.0.0.1 for the cases a well-behaved server cannot produce.

Each request is read (head and ``Content-Length`` body), recorded, and handed to an async
handler that writes whatever bytes it likes: a header aiohttp's server would refuse, an
endless body, a gzip bomb, a stall. The connection is closed when the handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from typing_extensions import Self


@attrs.frozen
class RawRequest:
    """One request as received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


def head(status: int = 200, headers: Mapping[str, str] | None = None, *, raw: bytes = b"") -> bytes:
    """The status line and headers of a response (`raw`: extra header lines as bytes)."""
    lines = [f"HTTP/1.1 {status} X".encode()]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n" + raw + b"\r\n"


def response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    """A whole response with a ``Content-Length``."""
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    return head(status, all_headers) + body


def replying(data: bytes) -> Handler:
    """A handler that writes `data` and closes."""

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return handler


class RawServer:
    """``async with RawServer(handler) as server:``; ``server.url``; ``server.requests``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.done = asyncio.Event()  # set when a handler returns or fails
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                await self.handler(request, writer)
                break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the server is closing
        finally:
            self.done.set()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)  # type: ignore[arg-type]


async def _read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        raw_head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    first, *lines = raw_head.decode("latin-1").split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RawRequest(method=method, path=path, headers=headers, body=body)
