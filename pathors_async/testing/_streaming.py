"""How the emulator streams a reply: chunks like the service's, and stream faults on demand."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from ._responder import Reply

__all__ = ["StreamFault", "reply_chunks", "write_stream"]

#: Argument text is streamed in fragments of this many characters.
ARGUMENT_FRAGMENT: Final = 8
_WORDS: Final = re.compile(r"\s*\S+\s*|\s+")


@attrs.frozen(kw_only=True)
class StreamFault:
    """A way to break the next stream, after `after` chunks.

    Attributes:
        kind: ``"cut"`` (the connection drops), ``"end"`` (the body ends cleanly,
            without ``[DONE]``), ``"stall"`` (no more bytes until released),
            ``"corrupt"`` (a bad line, then the rest), ``"error"`` (an error
            event, then the end), ``"noise"`` (keep-alive comments, ``id:`` and
            ``retry:`` frames and CRLF line ends around every chunk) or ``"linger"``
            (the body stays open after ``[DONE]`` until released).
        after: How many chunks are sent before the fault.
        line: For ``"corrupt"``: the raw line sent.
        error: For ``"error"``: the error payload.
        as_event: For ``"error"``: send it as ``event: error`` (else as a data line).
    """

    kind: str
    after: int = 0
    line: str = "data: {not json"
    error: Mapping[str, Any] = attrs.field(factory=dict)
    as_event: bool = True


def reply_chunks(
    reply: Reply, *, completion_id: str, created: int, model: str, session_id: str
) -> list[dict[str, Any]]:
    """Split a reply into ``chat.completion.chunk`` objects, as the service streams it.

    The role comes first; text follows a word at a time; each tool call sends
    its id, type and name first, then its arguments in short fragments, keyed
    by ``index``; the last chunk carries the finish reason.

    Args:
        reply: What to stream.
        completion_id: The ``id`` of every chunk.
        created: The ``created`` time of every chunk.
        model: The ``model`` of every chunk.
        session_id: The ``session_id`` of every chunk.

    Returns:
        The chunks, in order.
    """
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word} for word in _WORDS.findall(reply.content or "")]
    for index, call in enumerate(reply.tool_calls):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        arguments = call.arguments
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
            for fragment in (
                arguments[i : i + ARGUMENT_FRAGMENT]
                for i in range(0, len(arguments), ARGUMENT_FRAGMENT)
            )
        ]
    finish = [None] * len(deltas) + [reply.finish_reason]
    deltas.append({})
    return [
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            "session_id": session_id,
        }
        for delta, reason in zip(deltas, finish, strict=True)
    ]


def _event(data: str, *, noisy: bool, number: int) -> bytes:
    if not noisy:
        return f"data: {data}\n\n".encode()
    # A comment, meta frames without data, an empty event, then the chunk; CRLF line ends.
    frames = (": keep-alive", f"id: {number}\r\nretry: 1000", "data:", f"data: {data}")
    return "".join(f"{frame}\r\n\r\n" for frame in frames).encode()


async def write_stream(
    request: web.Request,
    headers: Mapping[str, str],
    chunks: list[dict[str, Any]],
    fault: StreamFault | None,
    wait_for_release: Callable[[], Awaitable[None]],
) -> web.StreamResponse:
    """Send `chunks` as an event stream, breaking it as `fault` says.

    Args:
        request: The request being answered.
        headers: Extra response headers (the session id…).
        chunks: The chunks to send.
        fault: How to break the stream, or None.
        wait_for_release: Awaited by a ``"stall"`` fault.

    Returns:
        The response (already sent).
    """
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
    try:
        await response.prepare(request)
        if fault is None or fault.kind in ("noise", "linger"):
            await _whole(response, chunks, fault, wait_for_release)
        else:
            for chunk in chunks[: fault.after]:
                await response.write(_event(json.dumps(chunk), noisy=False, number=0))
            await _break(request, response, chunks[fault.after :], fault, wait_for_release)
    except ConnectionResetError:
        pass  # the client went away (even before the headers): nothing more to send
    return response


async def _whole(
    response: web.StreamResponse,
    chunks: list[dict[str, Any]],
    fault: StreamFault | None,
    wait_for_release: Callable[[], Awaitable[None]],
) -> None:
    """Send every chunk and ``[DONE]`` (with noise, or lingering after, if asked)."""
    noisy = fault is not None and fault.kind == "noise"
    for number, chunk in enumerate(chunks):
        await response.write(_event(json.dumps(chunk), noisy=noisy, number=number))
    await response.write(_event("[DONE]", noisy=noisy, number=len(chunks)))
    if fault is not None and fault.kind == "linger":
        await wait_for_release()  # the body stays open after [DONE]
    await response.write_eof()


async def _break(
    request: web.Request,
    response: web.StreamResponse,
    rest: list[dict[str, Any]],
    fault: StreamFault,
    wait_for_release: Callable[[], Awaitable[None]],
) -> None:
    """Break the stream; `rest` are the chunks not sent yet."""
    if fault.kind == "cut":
        if request.transport is not None:
            request.transport.abort()
        return
    if fault.kind == "error":
        data = json.dumps(fault.error)
        prefix = "event: error\n" if fault.as_event else ""
        await response.write(f"{prefix}data: {data}\n\n".encode())
    elif fault.kind in ("stall", "corrupt"):
        if fault.kind == "stall":
            await wait_for_release()
        else:
            await response.write(f"{fault.line}\n\n".encode())
        for chunk in rest:
            await response.write(_event(json.dumps(chunk), noisy=False, number=0))
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()  # "end": the body just stops
