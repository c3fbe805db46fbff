"""The test-facing controls of `FakePathors`: scripted answers, faults, what it received.

`EmulatorControls` holds the emulator's state that a test drives and reads (the
queues of scripted replies, request faults and stream faults, the recorded
requests and the sessions) and the methods that fill those queues, plus the
choice of each chat request's reply. It does no I/O: `FakePathors` (in
`_fake`) serves HTTP on top of it.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from ._requests import RecordedRequest, Session, error_body
from ._responder import ChatRequest, Reply, ScriptedToolCall, default_reply
from ._streaming import StreamFault

__all__ = ["EmulatorControls", "Fault", "Responder"]

#: A responder: called with each chat request that has no scripted reply.
Responder = Callable[[ChatRequest], "Reply | str | Awaitable[Reply | str]"]


@attrs.frozen(kw_only=True)
class Fault:
    """A fault queued for the next request: what `FakePathors` does instead of answering."""

    kind: str  # "status", "delay", "stall" or "drop"
    status: int = 500
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


class EmulatorControls:
    """The state and scripting methods of `FakePathors` (its base class; no I/O).

    Args:
        responder: Called for chat requests that have no scripted reply (see
            `FakePathors`).
    """

    def __init__(self, *, responder: Responder | None = None) -> None:
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, Session] = {}
        self._script: deque[Reply] = deque()
        self._faults: deque[Fault] = deque()
        self._stream_faults: deque[StreamFault] = deque()
        self._ids = itertools.count(1)
        self._released = asyncio.Event()
        self._closing = False
        self._received = asyncio.Condition()

    # ------------------------------------------------------------ scripting

    def reply(self, content: str, *, finish_reason: str = "stop") -> None:
        """Queue a text answer for the next chat request.

        Args:
            content: The assistant's text.
            finish_reason: The finish reason to report (e.g. ``"length"``).
        """
        self._script.append(Reply(content=content, finish_reason=finish_reason))

    def reply_tool_calls(
        self,
        calls: Sequence[Mapping[str, Any]],
        *,
        content: str | None = None,
        finish_reason: str = "tool_calls",
    ) -> None:
        """Queue an answer that calls tools.

        Args:
            calls: Each ``{"name": ..., "arguments": {...} or "<JSON text>",
                "id": optional}``. A string `arguments` is sent as is, so
                invalid JSON can be scripted on purpose.
            content: Text to send along with the calls.
            finish_reason: The finish reason to report (``"length"``: an answer
                cut off mid-call).
        """
        scripted = []
        for call in calls:
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            scripted.append(
                ScriptedToolCall(
                    name=call["name"], arguments=arguments, id=call.get("id") or self._call_id()
                )
            )
        self._script.append(
            Reply(content=content, tool_calls=tuple(scripted), finish_reason=finish_reason)
        )

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        message: str | None = None,
        body: str | bytes | Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests with an error status.

        Args:
            status: The HTTP status.
            times: How many requests to fail.
            message: The message in a ``{"error": {"message": ...}}`` body.
            body: A body to send instead: a dict (as JSON) or text/bytes as is
                (e.g. an HTML page).
            content_type: The body's content type.
            retry_after: A ``Retry-After`` header value (seconds or HTTP date).
            headers: More response headers.
        """
        if body is None:
            body = error_body(message or f"emulated failure ({status})")
        raw = json.dumps(body).encode() if isinstance(body, Mapping) else body
        extra = {"Content-Type": content_type, **(headers or {})}
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        fault = Fault(
            kind="status",
            status=status,
            body=raw.encode() if isinstance(raw, str) else raw,
            headers=extra,
        )
        self._faults.extend([fault] * times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before answering each of the next `times` requests."""
        self._faults.extend([Fault(kind="delay", delay=seconds)] * times)

    def stall_next(self, *, times: int = 1) -> None:
        """Never answer the next `times` requests (until `release` or close)."""
        self._faults.extend([Fault(kind="stall")] * times)

    def drop_next(self, *, times: int = 1) -> None:
        """Close the connection without answering the next `times` requests."""
        self._faults.extend([Fault(kind="drop")] * times)

    # ------------------------------------------------------------ stream faults

    def cut_stream_next(self, *, after: int = 1) -> None:
        """Drop the connection of the next stream after `after` chunks."""
        self._stream_faults.append(StreamFault(kind="cut", after=after))

    def end_stream_next(self, *, after: int = 1) -> None:
        """End the body of the next stream cleanly after `after` chunks, without ``[DONE]``."""
        self._stream_faults.append(StreamFault(kind="end", after=after))

    def stall_stream_next(self, *, after: int = 1) -> None:
        """Stop sending the next stream after `after` chunks, until `release` or close."""
        self._stream_faults.append(StreamFault(kind="stall", after=after))

    def corrupt_stream_next(self, *, after: int = 1, line: str = "data: {not json") -> None:
        """Send `line` (raw) in the next stream after `after` chunks, then the rest."""
        self._stream_faults.append(StreamFault(kind="corrupt", after=after, line=line))

    def error_in_stream_next(
        self,
        *,
        after: int = 1,
        message: str = "emulated stream failure",
        status: int | None = None,
        as_event: bool = True,
    ) -> None:
        """Send an error in the next stream after `after` chunks, then end it.

        Args:
            after: Chunks sent before the error.
            message: The error's message.
            status: An HTTP status to put in the payload (``error.status``).
            as_event: Send ``event: error`` (True) or a ``data: {"error": ...}`` line.
        """
        error: dict[str, Any] = {"message": message}
        if status is not None:
            error["status"] = status
        self._stream_faults.append(
            StreamFault(kind="error", after=after, error={"error": error}, as_event=as_event)
        )

    def linger_after_done_next(self) -> None:
        """Keep the body of the next stream open after ``[DONE]``, until `release` or close."""
        self._stream_faults.append(StreamFault(kind="linger"))

    def noisy_stream_next(self) -> None:
        """Wrap each chunk of the next stream in keep-alive comments, meta frames and CRLFs."""
        self._stream_faults.append(StreamFault(kind="noise"))

    def release(self) -> None:
        """Let the requests stalled so far go on (they are answered normally)."""
        self._released.set()
        self._released = asyncio.Event()

    async def _wait_for_release(self) -> None:
        if not self._closing:
            await self._released.wait()

    async def wait_for_requests(self, count: int) -> None:
        """Wait until at least `count` requests have been received in all.

        Args:
            count: The total number of requests to wait for.
        """
        async with self._received:
            await self._received.wait_for(lambda: len(self.requests) >= count)

    # ------------------------------------------------------------ replies

    def _call_id(self) -> str:
        return f"call_{next(self._ids)}"

    async def _reply_for(self, chat: ChatRequest) -> Reply:
        if self._script:
            return self._script.popleft()
        if self.responder is None:
            return default_reply(chat, self._call_id)
        answer = self.responder(chat)
        if inspect.isawaitable(answer):
            answer = await answer
        return Reply(content=answer) if isinstance(answer, str) else answer
