"""Matrix rows about HTTP: statuses and retries, 200s that are no answer, connections, heads."""

from __future__ import annotations

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

from .case import (
    DEEP,
    EMPTY_END,
    ESCAPED_KEY,
    LOCATION,
    PARTIAL,
    STALL,
    TOTAL,
    Case,
    backoffs,
    error_body,
    fake,
    raw,
    status,
)
from .conftest import (
    FAULT_KEY,
    TEXT,
    Drop,
    Stall,
    always,
    completion,
    whole,
)
from .ops import STREAMED
from .replies import (
    broken_error_body,
    cut_body,
)

HTTP_CASES: list[Case] = [
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
]
HTTP_CASES += [
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

HTTP_CASES += [
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

HTTP_CASES += [
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
HTTP_CASES += [
    Case(name=f"{code}-once", server="fake", arm=fake(status(code)), requests=2, delays=backoffs(1))
    for code in (408, 504)
]
HTTP_CASES += [
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
