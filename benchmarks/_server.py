"""The lean server for `make bench`: raw asyncio HTTP/1.1 with keep-alive, on 127.0.0.1.

Every reply is encoded once at start-up, so the server spends as little as it can per
request and the clients' own cost is what the benchmark sees. Any POST path is served
(``/v1/projects/p/chat/completions``, openai-python's ``/v1/chat/completions``…); the
request body picks the reply, by a byte search rather than a JSON parse:

- a message with role ``tool`` (round 2 of the tool loop): the final answer, when the
  body carries the tool's result (`TOOL_RESULT`), otherwise an answer saying it did not;
- ``"tools"`` (round 1): one call of ``get_weather({"city": "Taipei"})``;
- anything else: the short answer `TEXT`, or with ``"stream": true`` a stream of
  `STREAM_CHUNKS` chunks (each SSE event its own HTTP chunk; the first event goes out
  with the head, the rest in writes of `EVENTS_PER_WRITE` events);
- `HOLD` in the body: that stream's first event only; the rest waits for
  ``POST /__release``, so many streams can be held open at once.

``GET /__cpu`` answers this process's CPU seconds (a client reads it before and after a
cell to show the server's CPU share). ``--wrong`` makes every answer subtly wrong, to
prove that a fast wrong answer fails the run.

    python benchmarks/_server.py [--port 0] [--wrong]   # prints "listening http://..."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import signal
import time

TEXT = "Hello! How can I help you today?"
STREAM_CHUNKS = 200
EVENTS_PER_WRITE = 20
HOLD = "__hold__"
QUESTION = "What is the weather in Taipei?"
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = '{"city": "Taipei"}'
TOOL_RESULT = "sunny, 22 C in Taipei"
FINAL = f"The weather in Taipei: {TOOL_RESULT}."
MISSING = "The tool result did not arrive."
FINAL_PIECES = 8
SESSION = "bench-session"

_STREAM = re.compile(rb'"stream"\s*:\s*true')
_TOOL_MESSAGE = re.compile(rb'"role"\s*:\s*"tool"')
_TOOLS = re.compile(rb'"tools"\s*:')


def stream_words(*, wrong: bool = False) -> list[str]:
    """The content deltas of the long stream (joined: what a client must end up with)."""
    return [f"{'x' if wrong else 'w'}{n} " for n in range(STREAM_CHUNKS)]


def final_pieces(text: str) -> list[str]:
    """`text` cut into `FINAL_PIECES` deltas."""
    size = -(-len(text) // FINAL_PIECES)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _head(content_type: str, extra: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{extra}X-Session-ID: {SESSION}\r\n\r\n"
    ).encode()


def whole(message: dict[str, object], finish: str) -> bytes:
    """A whole JSON completion, head included."""
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "pathway-bench",
            "session_id": SESSION,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
        },
        separators=(",", ":"),
    ).encode()
    return _head("application/json", f"Content-Length: {len(body)}\r\n") + body


def _event(delta: dict[str, object], finish: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "pathway-bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    data = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def streamed(deltas: list[dict[str, object]], finish: str) -> list[bytes]:
    """A chunked SSE reply as the writes to make: head + first event, then groups of events."""
    events = [_event(delta, None) for delta in deltas[:-1]] + [_event(deltas[-1], finish)]
    done = b"data: [DONE]\n\n"
    events.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    head = _head("text/event-stream", "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n")
    writes = [head + events[0]]
    rest = events[1:]
    writes += [
        b"".join(rest[i : i + EVENTS_PER_WRITE]) for i in range(0, len(rest), EVENTS_PER_WRITE)
    ]
    return writes


def _tool_call_deltas() -> list[dict[str, object]]:
    cut = len(TOOL_ARGUMENTS) // 2
    first = {"index": 0, "id": "call_bench", "type": "function"}
    return [
        {
            "role": "assistant",
            "tool_calls": [{**first, "function": {"name": TOOL_NAME, "arguments": ""}}],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": TOOL_ARGUMENTS[:cut]}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": TOOL_ARGUMENTS[cut:]}}]},
        {},
    ]


def _text_deltas(pieces: list[str]) -> list[dict[str, object]]:
    return [{"role": "assistant", "content": pieces[0]}] + [{"content": p} for p in pieces[1:]]


class Replies:
    """Every reply, encoded once."""

    def __init__(self, *, wrong: bool = False) -> None:
        text = TEXT + (" (wrong)" if wrong else "")
        final = FINAL.replace("22", "23") if wrong else FINAL
        function = {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}
        call = {"id": "call_bench", "type": "function", "function": function}
        self.text = [whole({"role": "assistant", "content": text}, "stop")]
        self.stream = streamed(_text_deltas(stream_words(wrong=wrong)), "stop")
        self.tool_call = [
            whole({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
        ]
        self.tool_call_stream = streamed(_tool_call_deltas(), "tool_calls")
        self.final = [whole({"role": "assistant", "content": final}, "stop")]
        self.final_stream = streamed(_text_deltas(final_pieces(final)), "stop")
        self.missing = [whole({"role": "assistant", "content": MISSING}, "stop")]
        self.missing_stream = streamed(_text_deltas(final_pieces(MISSING)), "stop")

    def pick(self, body: bytes) -> list[bytes]:
        """The writes answering a chat request with this body."""
        stream = _STREAM.search(body) is not None
        if _TOOL_MESSAGE.search(body):
            if TOOL_RESULT.encode() in body:
                return self.final_stream if stream else self.final
            return self.missing_stream if stream else self.missing
        if _TOOLS.search(body):
            return self.tool_call_stream if stream else self.tool_call
        return self.stream if stream else self.text


def plain(status: int, text: str) -> bytes:
    """A small non-chat reply."""
    body = text.encode()
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


class Server:
    """The shared state: the replies and the streams held until released."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.held: list[tuple[asyncio.Transport, list[bytes]]] = []

    def release(self) -> int:
        """Finish every held stream; how many there were."""
        held, self.held = self.held, []
        for transport, rest in held:
            if not transport.is_closing():
                transport.writelines(rest)
        return len(held)


class Connection(asyncio.Protocol):
    """One keep-alive connection: reads requests (head + Content-Length body), answers each."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - TCP
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            length = _content_length(head)
            if length is None:
                self._write([plain(411, "send a Content-Length body")])
                self.buffer.clear()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        if head.startswith(b"get /__cpu"):
            self._write([plain(200, repr(time.process_time()))])
        elif head.startswith(b"post /__release"):
            self._write([plain(200, str(self.server.release()))])
        elif not head.startswith(b"post "):
            self._write([plain(405, "POST a chat request")])
        else:
            writes = self.server.replies.pick(body)
            if HOLD.encode() in body:
                self._write(writes[:1])
                assert self.transport is not None  # noqa: S101 - connected
                self.server.held.append((self.transport, writes[1:]))
            else:
                self._write(writes)

    def _write(self, writes: list[bytes]) -> None:
        assert self.transport is not None  # noqa: S101 - connected
        for data in writes:
            self.transport.write(data)


def _content_length(head: bytes) -> int | None:
    if b"\r\ntransfer-encoding:" in head:
        return None
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end if end >= 0 else len(head)])


def raise_file_limit() -> None:
    """Allow as many open sockets as the hard limit does (1,000 held streams need them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(port: int, *, wrong: bool) -> None:
    raise_file_limit()
    server = Server(Replies(wrong=wrong))
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), "127.0.0.1", port, backlog=2048)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening http://127.0.0.1:{listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--wrong", action="store_true", help="answer wrongly (tests the checks)")
    args = parser.parse_args()
    asyncio.run(serve(args.port, wrong=args.wrong))


if __name__ == "__main__":
    main()
