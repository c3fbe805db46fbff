"""The fault matrix's servers: the emulator, and scripted raw servers built on `tests.rawserver`.

`Scripted` is a `RawServer` handler that answers each request (one per connection: every
reply says ``Connection: close``) with the next scripted reply, a list of steps: bytes to
write, `Stall` (write nothing more until `release` is set) or `Drop` (abort the connection).
Once the script runs out it answers like a good server, whole or streamed as asked. No
sleeps: a stall waits on an event that teardown sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import pytest

from pathors_async import AsyncPathors, RetryPolicy
from pathors_async.testing import FakePathors, Reply, ScriptedToolCall
from pathors_async.testing._streaming import reply_chunks
from tests.rawserver import RawRequest, RawServer, head, response

#: A key with the characters JSON, URLs and base64 treat specially, so every form is distinct.
FAULT_KEY = 'sk_fault/M4trix+9q="Zx'
TEXT = "Sunny and mild in Oslo today"
QUESTION = "What is the weather in Oslo?"
SESSION = "sess-1"
TOOL_CALL = ScriptedToolCall(name="lookup", arguments='{"city": "Oslo"}', id="call_1")
TOOL_TEXT = "sunny in Oslo"
JSON_HEADERS = {"Content-Type": "application/json", "Connection": "close"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Connection": "close"}


@attrs.frozen
class Stall:
    """Write nothing more until the script's `release` event is set."""


@attrs.frozen
class Drop:
    """Abort the connection: no more bytes, no clean end."""


Step = bytes | Stall | Drop
RawReply = Callable[[RawRequest], Sequence[Step]]


def streamed(request: RawRequest) -> bool:
    """Whether the request asked for a stream."""
    return bool(json.loads(request.body or b"{}").get("stream"))


def completion(message: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A whole chat completion holding `message`."""
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 1,
        "model": "raw",
        "choices": [{"index": 0, "message": dict(message), "finish_reason": "stop"}],
        **fields,
    }


def chunk(delta: Mapping[str, Any], finish_reason: str | None = None, **fields: Any) -> dict:
    """One chat.completion.chunk with one choice."""
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "raw",
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}],
        **fields,
    }


def whole(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> bytes:
    """A whole JSON response (`body` as JSON unless already bytes)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return response(status, raw, {**JSON_HEADERS, **(headers or {})})


def events(*datas: str, headers: Mapping[str, str] | None = None) -> list[bytes]:
    """An event stream's head and one ``data:`` event per item (no [DONE] unless given)."""
    return [head(200, {**SSE_HEADERS, **(headers or {})})] + [
        f"data: {data}\n\n".encode() for data in datas
    ]


def reply_events(reply: Reply) -> list[str]:
    """The emulator's chunks for `reply`, as ``data:`` texts (no [DONE])."""
    chunks = reply_chunks(
        reply, completion_id="chatcmpl-raw", created=1, model="raw", session_id=""
    )
    for item in chunks:
        del item["session_id"]  # this server does not echo the session id
    return [json.dumps(item) for item in chunks]


def answer(reply: Reply) -> RawReply:
    """A good answer with `reply`, whole or streamed as the request asks."""

    def steps(request: RawRequest) -> list[Step]:
        if streamed(request):
            return [*events(*reply_events(reply)), b"data: [DONE]\n\n"]
        return [whole(completion(reply.message()))]

    return steps


def by_mode(*, whole_reply: Sequence[Step], streamed_reply: Sequence[Step]) -> RawReply:
    """A reply that differs for whole and streamed requests."""
    return lambda request: streamed_reply if streamed(request) else whole_reply


def always(*steps: Step) -> RawReply:
    """The same steps for any request."""
    return lambda _: steps


class Scripted:
    """A `RawServer` handler answering each request with the next scripted reply."""

    def __init__(self) -> None:
        self.replies: deque[RawReply] = deque()
        self.release = asyncio.Event()
        self.default = answer(Reply(content=TEXT))

    async def __call__(self, request: RawRequest, writer: asyncio.StreamWriter) -> None:
        reply = self.replies.popleft() if self.replies else self.default
        for step in reply(request):
            if isinstance(step, Stall):
                await self.release.wait()
            elif isinstance(step, Drop):
                writer.transport.abort()
                return
            else:
                writer.write(step)
                await writer.drain()


class Emulated:
    """The emulator as a fault-matrix server."""

    kind = "fake"

    def __init__(self, fake: FakePathors) -> None:
        self.fake = fake

    @property
    def seen(self) -> int:
        return len(self.fake.requests)

    def client(self, **options: Any) -> AsyncPathors:
        return self.fake.client(**options)

    def script_tool_call(self) -> None:
        self.fake.reply_tool_calls(
            [{"name": TOOL_CALL.name, "arguments": TOOL_CALL.arguments, "id": TOOL_CALL.id}]
        )

    def before_fault(self) -> None:
        self.fake.reply(TEXT)  # the answer of the faulty turn, when it gets through


class Raw:
    """A scripted raw server as a fault-matrix server."""

    kind = "raw"

    def __init__(self, server: RawServer, script: Scripted) -> None:
        self.server = server
        self.script = script

    @property
    def seen(self) -> int:
        return len(self.server.requests)

    def client(self, **options: Any) -> AsyncPathors:
        options.setdefault("retry", RetryPolicy(max_retries=2))
        return AsyncPathors(api_key=FAULT_KEY, project_id="p", base_url=self.server.url, **options)

    def add(self, *replies: RawReply) -> None:
        self.script.replies.extend(replies)

    def script_tool_call(self) -> None:
        self.add(answer(Reply(tool_calls=(TOOL_CALL,))))

    def before_fault(self) -> None:
        pass

    def refuse_connections(self) -> None:
        """Stop listening: every later connection is refused."""
        assert self.server._server is not None
        self.server._server.close()


@contextlib.asynccontextmanager
async def serving(kind: str) -> AsyncIterator[Emulated | Raw]:
    """The emulator (``"fake"``) or a scripted raw server (``"raw"``), closed on exit."""
    if kind == "fake":
        async with FakePathors(api_keys=(FAULT_KEY,)) as fake:
            yield Emulated(fake)
        return
    script = Scripted()
    async with RawServer(script) as server:
        try:
            yield Raw(server, script)
        finally:
            script.release.set()


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """DEBUG logging on for pathors_async, aiohttp and asyncio; every record kept, formatted."""
    from .secrets import Capture  # noqa: PLC0415 - secrets imports this module

    caplog.set_level(logging.DEBUG)
    for name in ("pathors_async", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
