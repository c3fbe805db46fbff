"""The fault matrix's rows: one server behaviour each, and what every operation must make of it.

A row names the server (the emulator, or a scripted raw server when the emulator cannot
produce the case), how to arm the fault, and the expected outcome per operation: the exact
error class (None: success, possibly after a transparent retry), how many requests the
faulty turn cost, the retry waits, and what a stream's `.partial_completion` holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from pathors_async import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    Timeout,
)
from pathors_async.testing import Reply, ScriptedToolCall
from tests.rawserver import head

from .conftest import (
    FAULT_KEY,
    JSON_HEADERS,
    TEXT,
    Drop,
    Stall,
    always,
    answer,
    by_mode,
    chunk,
    completion,
    events,
    reply_events,
    whole,
)
from .ops import OPS, STREAMED

WHOLE = frozenset(OPS) - STREAMED
DEEP = "[" * 100_000 + "]" * 100_000
#: The key with its first letter JSON-escaped: only decoding the JSON shows it.
ESCAPED_KEY = "\\u" + format(ord(FAULT_KEY[0]), "04x") + json.dumps(FAULT_KEY[1:])[1:-1]
TEXT_EVENTS = reply_events(Reply(content=TEXT))
PARTIAL = "Sunny and "  # the text of the first 3 chunks (role, "Sunny ", "and ")
STALL = Timeout(connect=5, read=0.3, total=600)
TOTAL = Timeout(connect=5, read=30, total=0.5)
DONE = b"data: [DONE]\n\n"
EMPTY_END = b"Content-Length: 0\r\nConnection: close\r\n\r\n"


def backoffs(count: int) -> list[float | str]:
    """`count` computed waits (no Retry-After): "backoff<n>" stands for retry n's range."""
    return [f"backoff{n}" for n in range(1, count + 1)]


def wait_matches(got: float, want: float | str) -> bool:
    """Whether a recorded wait is `want`, or within the range of a "backoff<n>"."""
    if isinstance(want, str):
        full = 0.5 * 2 ** (int(want.removeprefix("backoff")) - 1)
        return 0.75 * full <= got <= full
    return got == want


@attrs.frozen(kw_only=True)
class Case:
    """One row: a server behaviour and what each operation must make of it."""

    name: str
    server: str  # "fake" or "raw"
    arm: Callable[[Any], None]
    error: type[BaseException] | tuple[type[BaseException] | None, ...] | None = None
    requests: int = 1
    ops: frozenset[str] = frozenset(OPS)
    agent_extra: int = 0  # another turn the agent makes after the faulty one
    delays: list[float | str] = attrs.field(factory=list)
    partial: str | None = None
    timeout: Timeout | None = None
    match: str | None = None
    body: str | None = None  # a part of the error's .body (what arrived is kept)
    check: Callable[[str, Any], None] | None = None
    server_survives: bool = True  # False: no next turn is tried (the server is gone)

    def error_for(self, op: str) -> type[BaseException] | None:
        """The error class expected from `op` (whole ops first, then streamed)."""
        if isinstance(self.error, tuple):
            return self.error[1] if op in STREAMED else self.error[0]
        return self.error


def fake(call: Callable[[Any], object]) -> Callable[[Any], None]:
    """Arm the emulator."""

    def arm(server: Any) -> None:
        server.before_fault()
        call(server.fake)

    return arm


def raw(*replies: Callable[[Any], Any]) -> Callable[[Any], None]:
    """Arm the raw server with `replies`, in order."""
    return lambda server: server.add(*replies)


def message_of(value: Any) -> Any:
    return value.choices[0].message if hasattr(value, "choices") else value.messages[-1]


def check_content(expected: str) -> Callable[[str, Any], None]:
    def check(_: str, value: Any) -> None:
        assert message_of(value).content == expected

    return check


def check_tool_answer(op: str, value: Any) -> None:
    """The answer was a call to lookup(city="Bergen") with a generated id, answered by the agent."""
    if op in ("create", "stream"):
        (call,) = value.choices[0].message.tool_calls
        assert call.id.startswith("call_0_")
        assert call.function.arguments == '{"city": "Bergen"}'
        return
    calls = value.messages[-3].tool_calls
    assert [m.role for m in value.messages[-3:]] == ["assistant", "tool", "assistant"]
    assert value.messages[-2].tool_call_id == calls[0].id
    assert calls[0].id.startswith("call_0_")
    assert value.messages[-2].content == "sunny in Bergen"


def check_two_calls(op: str, value: Any) -> None:
    if op == "stream":
        calls = value.choices[0].message.tool_calls
    else:
        calls = value.messages[-4].tool_calls
        assert [m.tool_call_id for m in value.messages[-3:-1]] == ["a", "b"]
        assert [m.content for m in value.messages[-3:-1]] == ["sunny in Oslo", "sunny in Rome"]
    assert [(c.id, c.function.arguments) for c in calls] == [
        ("a", '{"city": "Oslo"}'),
        ("b", '{"city": "Rome"}'),
    ]


def check_surrogates(op: str, value: Any) -> None:
    if op in ("create", "stream"):
        message = value.choices[0].message
        assert message.content == "Sunny\ufffd"
        assert message.tool_calls[0].function.arguments == '{"city": "Os\ufffdlo"}'
        return
    # The transcript held the replaced text and was sent again: turn 3 answered.
    assert value.messages[-3].content == "Sunny\ufffd"
    assert value.messages[-2].content == "sunny in Os\ufffdlo"
    assert value.output == TEXT


def check_role(op: str, value: Any) -> None:
    assert message_of(value).role == "assistant"
    assert message_of(value).content == TEXT


def tool_call_without_id() -> Callable[[Any], Any]:
    call = {"type": "function", "function": {"name": "lookup", "arguments": '{"city": "Bergen"}'}}
    return by_mode(
        whole_reply=[
            whole(completion({"role": "assistant", "content": None, "tool_calls": [call]}))
        ],
        streamed_reply=[
            *events(
                json.dumps(chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]})),
                json.dumps(chunk({}, "tool_calls")),
            ),
            DONE,
        ],
    )


def two_calls_on_one_index() -> Callable[[Any], Any]:
    def call(call_id: str, city: str) -> dict[str, Any]:
        arguments = json.dumps({"city": city})
        function = {"name": "lookup", "arguments": arguments}
        return {"index": 0, "id": call_id, "type": "function", "function": function}

    return always(
        *events(
            json.dumps(chunk({"role": "assistant", "tool_calls": [call("a", "Oslo")]})),
            json.dumps(chunk({"tool_calls": [call("b", "Rome")]})),
            json.dumps(chunk({}, "tool_calls")),
        ),
        DONE,
    )


def surrogates() -> Callable[[Any], Any]:
    reply = Reply(
        content="Sunny\ud800",
        tool_calls=(ScriptedToolCall(name="lookup", arguments='{"city": "Os\ud800lo"}', id="s1"),),
    )
    return answer(reply)


def odd_role() -> Callable[[Any], Any]:
    first, *rest = TEXT_EVENTS
    first = first.replace('"role": "assistant"', '"role": "model"')
    return by_mode(
        whole_reply=[whole(completion({"role": "model", "content": TEXT}))],
        streamed_reply=[*events(first, *rest), DONE],
    )


def list_content() -> Callable[[Any], Any]:
    parts = [{"type": "text", "text": "Sunny and mild "}, {"type": "text", "text": "in Oslo today"}]
    return by_mode(
        whole_reply=[whole(completion({"role": "assistant", "content": parts}))],
        streamed_reply=[
            *events(
                json.dumps(chunk({"role": "assistant", "content": parts[:1]})),
                json.dumps(chunk({"content": parts[1:]})),
                json.dumps(chunk({}, "stop")),
            ),
            DONE,
        ],
    )


def bad_session_header(raw_line: bytes) -> Callable[[Any], Any]:
    def reply(request: Any) -> list[Any]:
        streamed_reply = answer(Reply(content=TEXT))(request)
        first = streamed_reply[0]
        return [
            first.replace(b"\r\n\r\n", b"\r\n" + raw_line + b"\r\n\r\n", 1),
            *streamed_reply[1:],
        ]

    return reply


def bad_session_body(session_id: str) -> Callable[[Any], Any]:
    message = {"role": "assistant", "content": TEXT}
    return by_mode(
        whole_reply=[whole(completion(message, session_id=session_id))],
        streamed_reply=[
            *events(json.dumps(chunk(message, "stop", session_id=session_id))),
            DONE,
        ],
    )


def cut_body(step: Any) -> Callable[[Any], Any]:
    partial_head = head(200, {**JSON_HEADERS, "Content-Length": "500"}) + b'{"id": "c'
    return by_mode(
        whole_reply=[partial_head, step],
        streamed_reply=[*events(*TEXT_EVENTS[:3]), step],
    )


def status(code: int, **options: Any) -> Callable[[Any], object]:
    return lambda f: f.fail_next(code, **options)


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}


LOCATION = "http://127.0.0.1:9/login?key=" + quote(FAULT_KEY, safe="")
CORRUPT_AFTER_3 = {"after": 3}

CASES: list[Case] = [
    # ------------------------------------------------------------ statuses and retries
    Case(
        name="500",
        server="fake",
        arm=fake(status(500, message=f"bad key {FAULT_KEY}")),
        error=InternalServerError,
        match="bad key \\[redacted\\]",
    ),
    Case(
        name="502-always",
        server="fake",
        arm=fake(status(502, times=3)),
        error=InternalServerError,
        requests=3,
        delays=backoffs(2),
    ),
    Case(name="502-once", server="fake", arm=fake(status(502)), requests=2, delays=backoffs(1)),
    Case(
        name="503-retry-after-seconds",
        server="fake",
        arm=fake(status(503, retry_after=3)),
        requests=2,
        delays=[3.0],
    ),
    Case(
        name="503-retry-after-http-date",
        server="fake",
        arm=fake(status(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")),
        requests=2,
        delays=[0.0],
    ),
    Case(
        name="503-retry-after-far-future",
        server="fake",
        arm=fake(status(503, retry_after="Mon, 01 Jan 99999999999 00:00:00 GMT")),
        requests=2,
        delays=[60.0],
    ),
    Case(
        name="503-without-retry-after",
        server="fake",
        arm=fake(status(503)),
        requests=2,
        delays=backoffs(1),
    ),
    Case(
        name="503-always",
        server="fake",
        arm=fake(status(503, times=3, retry_after=1)),
        error=InternalServerError,
        requests=3,
        delays=[1.0, 1.0],
    ),
    Case(
        name="429-retry-after-ms",
        server="fake",
        arm=fake(status(429, headers={"retry-after-ms": "1500"})),
        requests=2,
        delays=[1.5],
    ),
    Case(
        name="429-always",
        server="fake",
        arm=fake(status(429, times=3, headers={"retry-after-ms": "10"})),
        error=RateLimitError,
        requests=3,
        delays=[0.01, 0.01],
    ),
    Case(name="529", server="fake", arm=fake(status(529)), requests=2, delays=backoffs(1)),
    Case(
        name="non-json-error-body",
        server="fake",
        arm=fake(status(500, body=f"<h1>Oops {FAULT_KEY}</h1>", content_type="text/html")),
        error=InternalServerError,
        match="not a JSON error",
        body="<h1>Oops [redacted]</h1>",
    ),
    Case(
        name="escaped-key-in-details",
        server="fake",
        arm=fake(
            status(400, body='{"error": {"message": "m", "details": {"k": "' + ESCAPED_KEY + '"}}}')
        ),
        error=BadRequestError,
    ),
    Case(
        name="key-in-a-header",
        server="fake",
        arm=fake(status(401, headers={"X-Echo": f"Bearer {FAULT_KEY}"})),
        error=AuthenticationError,
    ),
    Case(
        name="deep-json-error-body",
        server="fake",
        arm=fake(status(400, body=DEEP)),
        error=BadRequestError,
    ),
    Case(
        name="307",
        server="fake",
        arm=fake(status(307, headers={"Location": LOCATION}, body=b"")),
        error=APIError,
        match="Location",
    ),
    # ------------------------------------------------------------ 200s that are no answer
    Case(
        name="200-empty-object",
        server="fake",
        arm=fake(status(200, body={})),
        error=(APIError, StreamError),
    ),
    Case(
        name="200-error",
        server="fake",
        arm=fake(status(200, body=error_body(FAULT_KEY))),
        error=(APIError, StreamError),
    ),
    Case(
        name="200-detail",
        server="fake",
        arm=fake(status(200, body={"detail": "Not authenticated"})),
        error=(APIError, StreamError),
        match="Not authenticated",
    ),
    Case(
        name="200-error-code-as-text",
        server="fake",
        arm=fake(status(200, body={"error": {"message": "down", "code": "500"}})),
        error=InternalServerError,
        match="down",
    ),
    Case(
        name="html-200",
        server="fake",
        arm=fake(status(200, body=f"<html>{FAULT_KEY}</html>", content_type="text/html")),
        error=(APIError, StreamError),
    ),
    Case(
        name="truncated-json-200",
        server="fake",
        arm=fake(status(200, body=b'{"id": "c1", "choices": [')),
        error=(APIError, StreamError),
    ),
    Case(
        name="deep-json-200",
        server="fake",
        arm=fake(status(200, body=DEEP)),
        error=(APIError, StreamError),
    ),
    # ------------------------------------------------------------ connections
    Case(
        name="refused",
        server="raw",
        arm=lambda server: server.refuse_connections(),
        server_survives=False,
        error=APIConnectionError,
        requests=0,
        delays=backoffs(2),
    ),
    Case(
        name="dropped-before-headers",
        server="fake",
        arm=fake(lambda f: f.drop_next()),
        error=APIConnectionError,
    ),
    Case(
        name="dropped-before-headers-raw",
        server="raw",
        arm=raw(always(Drop())),
        error=APIConnectionError,
    ),
    Case(
        name="stalled-before-headers",
        server="fake",
        arm=fake(lambda f: f.stall_next()),
        error=APITimeoutError,
        timeout=STALL,
    ),
    Case(
        name="stalled-before-headers-raw",
        server="raw",
        arm=raw(always(Stall())),
        error=APITimeoutError,
        timeout=STALL,
    ),
    Case(
        name="dropped-mid-body",
        server="raw",
        arm=raw(cut_body(Drop())),
        error=(APIConnectionError, StreamError),
        partial=PARTIAL,
    ),
    Case(
        name="stalled-mid-body",
        server="raw",
        arm=raw(cut_body(Stall())),
        error=APITimeoutError,
        partial=PARTIAL,
        timeout=STALL,
    ),
    # ------------------------------------------------------------ streams
    Case(
        name="dropped-after-3-chunks",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.cut_stream_next(after=3)),
        error=StreamError,
        partial=PARTIAL,
    ),
    Case(
        name="stalled-mid-stream",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.stall_stream_next(after=3)),
        error=APITimeoutError,
        partial=PARTIAL,
        timeout=STALL,
    ),
    Case(
        name="ended-without-done-or-finish",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.end_stream_next(after=3)),
        error=StreamError,
        partial=PARTIAL,
    ),
    Case(
        name="ended-without-done-after-finish",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.end_stream_next(after=len(TEXT_EVENTS))),
    ),
    Case(
        name="malformed-sse",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.corrupt_stream_next(after=3, line="data: {not json")),
        error=StreamError,
        partial=PARTIAL,
        match="chunk 4 .* is not JSON",
    ),
    Case(
        name="malformed-chunk-echoing-the-key",
        server="fake",
        ops=STREAMED,
        arm=fake(
            lambda f: f.corrupt_stream_next(
                after=3, line=f'data: {{"echo": "Bearer {FAULT_KEY}", oops}}'
            )
        ),
        error=StreamError,
        partial=PARTIAL,
    ),
    Case(
        name="malformed-chunk-echoing-the-escaped-key",
        server="fake",
        ops=STREAMED,
        arm=fake(
            lambda f: f.corrupt_stream_next(
                after=3,
                line='data: {"echo": "'
                + json.dumps(FAULT_KEY)[1:-1].replace("/", "\\/")
                + '", "url": "?k='
                + quote(FAULT_KEY, safe="")
                + '", oops}',
            )
        ),
        error=StreamError,
        partial=PARTIAL,
    ),
    Case(
        name="event-error",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.error_in_stream_next(after=3, message=f"overloaded {FAULT_KEY}")),
        error=StreamError,
        partial=PARTIAL,
        match="overloaded",
    ),
    Case(
        name="event-error-with-status",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.error_in_stream_next(after=3, message="busy", status=503)),
        error=InternalServerError,
        partial=PARTIAL,
    ),
    Case(
        name="in-band-error-without-done",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.error_in_stream_next(after=3, message="gone", as_event=False)),
        error=StreamError,
        partial=PARTIAL,
        match="gone",
    ),
    Case(
        name="in-band-error-code-as-text",
        server="fake",
        ops=STREAMED,
        arm=fake(
            lambda f: f.corrupt_stream_next(
                after=3, line='data: {"error": {"message": "down", "code": "500"}}'
            )
        ),
        error=InternalServerError,
        partial=PARTIAL,
    ),
    Case(
        name="deep-json-chunk",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.corrupt_stream_next(after=3, line="data: " + DEEP)),
        error=StreamError,
        partial=PARTIAL,
        match="nested too deep",
    ),
    Case(
        name="done-with-whitespace",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.corrupt_stream_next(after=len(TEXT_EVENTS), line="data:  [DONE] ")),
    ),
    # ------------------------------------------------------------ odd but usable answers
    Case(name="list-content", server="raw", arm=raw(list_content())),
    Case(
        name="tool-call-without-id",
        server="raw",
        arm=raw(tool_call_without_id()),
        agent_extra=1,
        check=check_tool_answer,
    ),
    Case(
        name="two-calls-on-one-index",
        server="raw",
        ops=STREAMED,
        arm=raw(two_calls_on_one_index()),
        agent_extra=1,
        check=check_two_calls,
    ),
    Case(name="unknown-role", server="raw", arm=raw(odd_role()), check=check_role),
    Case(
        name="lone-surrogates",
        server="raw",
        arm=raw(surrogates()),
        agent_extra=1,
        check=check_surrogates,
    ),
    Case(name="no-session-id-echo", server="raw", arm=raw()),
    # ------------------------------------------------------------ session ids that poison
    Case(
        name="session-id-header-control",
        server="raw",
        arm=raw(bad_session_header(b"X-Session-ID: a\x01b")),
        error=APIError,
        match="session id",
    ),
    Case(
        name="session-id-header-invalid-utf8",
        server="raw",
        arm=raw(bad_session_header(b"X-Session-ID: abc\xff\xfe")),
        error=APIError,
        match="session id",
    ),
    Case(
        name="session-id-body-crlf",
        server="raw",
        arm=raw(bad_session_body("a\r\nb")),
        error=(APIError, StreamError),
        match="session",
    ),
    Case(
        name="session-id-body-echoing-the-key",
        server="raw",
        arm=raw(bad_session_body(f"{FAULT_KEY}\r\n")),
        error=(APIError, StreamError),
    ),
    Case(
        name="deprecation-headers-echoing-the-key",
        server="raw",
        arm=raw(
            lambda request: [
                whole(
                    completion({"role": "assistant", "content": TEXT}),
                    headers={"Deprecation": FAULT_KEY, "Sunset": quote(FAULT_KEY, safe="")},
                )
            ]
        ),
        ops=WHOLE,
    ),
]

HOSTILE_HEADS: list[Case] = [
    Case(
        name="reason-phrase-echoing-the-key",
        server="raw",
        arm=raw(always(f"HTTP/1.1 500 Bearer {FAULT_KEY}\r\n".encode() + EMPTY_END)),
        error=InternalServerError,
    ),
    Case(
        name="content-encoding-echoing-the-key",
        server="raw",
        arm=raw(
            lambda request: [
                whole(
                    completion({"role": "assistant", "content": TEXT}),
                    headers={"Content-Encoding": f"Bearer {FAULT_KEY}"},
                )
            ]
        ),
        error=(APIError, APIError),
        match="Content-Encoding",
    ),
    Case(
        name="error-content-encoding-echoing-the-key",
        server="raw",
        arm=raw(always(whole(b"{}", status=400, headers={"Content-Encoding": FAULT_KEY}))),
        error=BadRequestError,
    ),
    Case(
        name="bad-status-line-echoing-the-key",
        server="raw",
        arm=raw(always(f"HTTP/1.1 2x0 {FAULT_KEY}\r\n".encode() + EMPTY_END)),
        error=APIConnectionError,
    ),
]
CASES += HOSTILE_HEADS


def broken_error_body(status_code: int, step: Any) -> Callable[[Any], Any]:
    """An error status whose JSON body stops short of its length, then `step`."""
    start = head(status_code, {**JSON_HEADERS, "Content-Length": "200"})
    return always(start + f'{{"error": "echo {FAULT_KEY}'.encode(), step)


CASES += [
    Case(
        name="500-body-stalls",
        server="raw",
        arm=raw(broken_error_body(500, Stall())),
        error=APITimeoutError,
        timeout=STALL,
        match="error body is cut",
        body='{"error": "echo [redacted]',
    ),
    Case(
        name="500-body-cut",
        server="raw",
        arm=raw(broken_error_body(500, Drop())),
        error=APIConnectionError,
        match="error body is cut",
        body='{"error": "echo [redacted]',
    ),
    Case(
        name="503-body-stalls-then-ok",
        server="raw",
        arm=raw(broken_error_body(503, Stall())),
        timeout=STALL,
        requests=2,
        delays=backoffs(1),
    ),
    Case(
        name="502-body-cut-then-ok",
        server="raw",
        arm=raw(broken_error_body(502, Drop())),
        requests=2,
        delays=backoffs(1),
    ),
]

CASES += [
    Case(name=f"{code}", server="fake", arm=fake(status(code)), error=error)
    for code, error in [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (418, APIStatusError),
        (501, InternalServerError),
    ]
]
CASES += [
    Case(name=f"{code}-once", server="fake", arm=fake(status(code)), requests=2, delays=backoffs(1))
    for code in (408, 504)
]
CASES += [
    Case(
        name="retry-after-past-the-total-timeout",
        server="fake",
        arm=fake(status(503, retry_after=120)),
        error=InternalServerError,
        timeout=Timeout(total=60),
    ),
    Case(
        name="total-timeout-before-headers",
        server="raw",
        arm=raw(always(Stall())),
        error=APITimeoutError,
        timeout=TOTAL,
        match="Timeout.total",
    ),
    Case(
        name="total-timeout-mid-stream",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.stall_stream_next(after=3)),
        error=APITimeoutError,
        partial=PARTIAL,
        timeout=TOTAL,
        match="Timeout.total",
    ),
]


def system_calling_a_tool() -> Callable[[Any], Any]:
    reply = Reply(
        tool_calls=(ScriptedToolCall(name="lookup", arguments='{"city": "Bergen"}', id="sys1"),)
    )
    first, *rest = reply_events(reply)
    message = {**reply.message(), "role": "system"}
    return by_mode(
        whole_reply=[whole(completion(message))],
        streamed_reply=[
            *events(first.replace('"role": "assistant"', '"role": "system"'), *rest),
            DONE,
        ],
    )


def check_system_role(op: str, value: Any) -> None:
    message = value.choices[0].message if op in ("create", "stream") else value.messages[-3]
    assert message.role == "assistant"
    assert [call.id for call in message.tool_calls] == ["sys1"]
    if op not in ("create", "stream"):  # answered, and the transcript was sent again
        assert value.messages[-2].tool_call_id == "sys1"
        assert value.output == TEXT


CASES += [
    Case(
        name="system-role-without-text",
        server="raw",
        arm=raw(system_calling_a_tool()),
        agent_extra=1,
        check=check_system_role,
    ),
    Case(
        name="deep-json-in-band-error",
        server="fake",
        ops=STREAMED,
        arm=fake(lambda f: f.corrupt_stream_next(after=3, line='data: {"error": ' + DEEP + "}")),
        error=StreamError,
        partial=PARTIAL,
    ),
]

CASES += [
    Case(
        name=f"503-retry-header-{label}",
        server="fake",
        arm=fake(status(503, headers=headers)),
        requests=2,
        delays=delays,
    )
    for label, headers, delays in [
        ("ms-nan", {"retry-after-ms": "nan"}, backoffs(1)),
        ("ms-negative", {"retry-after-ms": "-5"}, backoffs(1)),
        ("huge-number", {"Retry-After": "1e400"}, [60.0]),
        ("not-a-number-or-date", {"Retry-After": "soon"}, backoffs(1)),
        ("bad-date", {"Retry-After": "Mon, 99 Foo 2026 99:99:99 GMT"}, backoffs(1)),
    ]
]

BY_NAME: Mapping[str, Case] = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def rows() -> list[tuple[str, str]]:
    """Every (case name, operation) the matrix runs."""
    return [(case.name, op) for case in CASES for op in OPS if op in case.ops]
