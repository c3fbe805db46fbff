"""The fault matrix's row type, and the helpers its rows are written with.

A row names the server (the emulator, or a scripted raw server when the emulator cannot
produce the case), how to arm the fault, and the expected outcome per operation: the exact
error class (None: success, possibly after a transparent retry), how many requests the
faulty turn cost, the retry waits, and what a stream's `.partial_completion` holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import attrs

from pathors_async import (
    Timeout,
)
from pathors_async.testing import Reply

from .conftest import (
    FAULT_KEY,
    TEXT,
    reply_events,
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


def status(code: int, **options: Any) -> Callable[[Any], object]:
    return lambda f: f.fail_next(code, **options)


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}


LOCATION = "http://127.0.0.1:9/login?key=" + quote(FAULT_KEY, safe="")
