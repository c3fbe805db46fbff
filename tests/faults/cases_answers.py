"""Matrix rows about what a 200 holds: broken streams, odd but usable answers, bad session ids."""

from __future__ import annotations

import json
from urllib.parse import quote

from pathors_async import (
    APIError,
    APITimeoutError,
    InternalServerError,
    StreamError,
)

from .case import (
    DEEP,
    PARTIAL,
    STALL,
    TEXT_EVENTS,
    WHOLE,
    Case,
    backoffs,
    fake,
    raw,
    status,
)
from .conftest import (
    FAULT_KEY,
    TEXT,
    completion,
    whole,
)
from .ops import STREAMED
from .replies import (
    bad_session_body,
    bad_session_header,
    check_role,
    check_surrogates,
    check_system_role,
    check_tool_answer,
    check_two_calls,
    list_content,
    odd_role,
    surrogates,
    system_calling_a_tool,
    tool_call_without_id,
    two_calls_on_one_index,
)

ANSWER_CASES: list[Case] = [
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

ANSWER_CASES += [
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

ANSWER_CASES += [
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
