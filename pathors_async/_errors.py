"""The exception tree of pathors_async.

Every error the SDK raises on purpose descends from `PathorsError`::

    PathorsError
    ├── APIError                     message, body, url, partial_completion
    │   ├── APIStatusError           status_code, headers, session_id
    │   │   ├── BadRequestError          400
    │   │   ├── AuthenticationError      401
    │   │   ├── InsufficientCreditsError 402
    │   │   ├── PermissionDeniedError    403
    │   │   ├── NotFoundError            404
    │   │   ├── ConflictError            409
    │   │   ├── RateLimitError           429
    │   │   └── InternalServerError      5xx
    │   ├── APIConnectionError
    │   │   └── APITimeoutError      (also a TimeoutError)
    │   └── StreamError              .partial_completion
    ├── ToolError
    │   ├── ToolNotFoundError
    │   ├── ToolArgumentsError
    │   └── ToolExecutionError
    ├── MaxTurnsExceeded             .messages, .last_completion
    └── StoreError                   a conversation store failed or holds bad data
        ├── ConversationBusy         the lease was not had within lock_wait
        └── LeaseLost                fenced save refused: another process holds it now

An error raised mid-run by an `Agent` carries `.messages`, the transcript so far.
Misuse (a bad argument, a closed client) raises the built-in `ValueError`,
`TypeError` or `RuntimeError` instead, with a message that says what to do.
Nothing here ever holds the API key: errors that carry what a server sent are
built by `_redact.Redactor`, which removes the key first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._json import JSONError, loads

if TYPE_CHECKING:
    from ._models import ChatCompletion, Message, ToolFailure

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConversationBusy",
    "InsufficientCreditsError",
    "InternalServerError",
    "LeaseLost",
    "MaxTurnsExceeded",
    "NotFoundError",
    "PathorsError",
    "PermissionDeniedError",
    "RateLimitError",
    "StoreError",
    "StreamError",
    "ToolArgumentsError",
    "ToolError",
    "ToolExecutionError",
    "ToolNotFoundError",
    "clip_body",
    "error_fields",
    "hint_for",
    "parse_error_body",
    "status_error_class",
]

#: Longest error body kept on an exception, in characters.
MAX_BODY_CHARS: Final = 4000

REDACTED: Final = "[redacted]"


class PathorsError(Exception):
    """Base class of every error pathors_async raises on purpose.

    Attributes:
        messages: For an error raised while an `Agent` run was under way, the
            transcript so far (every tool call in it answered), so the caller can
            retry the turn; None otherwise.
    """

    messages: list[Message] | None = None


class APIError(PathorsError):
    """The service, or the way to it, failed a request.

    Attributes:
        message: A one-line explanation a person can act on.
        body: The raw response body as text (cut to a sane length), or None.
        url: The URL the request went to.
        partial_completion: For an error raised while a stream was being read,
            the `ChatCompletion` assembled from what arrived before it (None if
            nothing did, and for errors before a stream started).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        body: str | None = None,
        partial_completion: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.body = body
        self.partial_completion = partial_completion


class APIStatusError(APIError):
    """The service answered with an HTTP error status.

    Attributes:
        status_code: The HTTP status.
        headers: The response headers (case-insensitive mapping).
        session_id: The session the request belonged to, when known.
        details: The `details` object of a structured error body, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int,
        headers: Mapping[str, str],
        body: str | None = None,
        session_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        partial_completion: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message, url=url, body=body, partial_completion=partial_completion)
        self.status_code = status_code
        self.headers = headers
        self.session_id = session_id
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class BadRequestError(APIStatusError):
    """400: the service refused the request body."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class InsufficientCreditsError(APIStatusError):
    """402: the project has run out of credits."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this project or resource."""


class NotFoundError(APIStatusError):
    """404: the project, session or path does not exist."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (e.g. the session exists)."""


class RateLimitError(APIStatusError):
    """429: too many requests; see `headers["Retry-After"]`."""


class InternalServerError(APIStatusError):
    """5xx: the service or a gateway in front of it failed."""


class APIConnectionError(APIError):
    """No usable HTTP response: the connection failed, was refused or was cut."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """A `Timeout` limit was reached (connect, read silence or total)."""


class StreamError(APIError):
    """A stream broke: malformed SSE or JSON, an error event, or a cut before it ended.

    `partial_completion` holds the `ChatCompletion` assembled from what arrived
    before the failure, or None if nothing did.
    """


class ToolError(PathorsError):
    """A tool call could not be completed (raised by `ToolRegistry.call`).

    The message is the text a model would get for the same failure.

    Attributes:
        tool_name: The tool asked for.
        failure: The `ToolFailure` kind.
        errors: For invalid arguments, each problem with its JSON path.
    """

    def __init__(
        self,
        message: str,
        *,
        tool_name: str,
        failure: ToolFailure,
        errors: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.tool_name = tool_name
        self.failure = failure
        self.errors = errors


class ToolNotFoundError(ToolError):
    """The model asked for a tool that is not registered."""


class ToolArgumentsError(ToolError):
    """The tool call's arguments were too large, not JSON, or did not fit the schema."""


class ToolExecutionError(ToolError):
    """The tool raised an exception or timed out (the exception is the ``__cause__``)."""


class MaxTurnsExceeded(PathorsError):  # noqa: N818 - the name is DESIGN.md's public API
    """The agent reached `max_turns` without a final answer.

    Attributes:
        messages: The whole transcript so far, so nothing is lost.
        last_completion: The last completion received, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        messages: list[Message],
        last_completion: ChatCompletion | None,
    ) -> None:
        super().__init__(message)
        self.messages = messages
        self.last_completion = last_completion


class StoreError(PathorsError):
    """A conversation store failed (connection, disk, corrupt record) or refused a lease.

    Attributes:
        key: The conversation key concerned, or None.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ConversationBusy(StoreError):  # noqa: N818 - the name is DESIGN.md's public API
    """Another turn held the conversation's lease for longer than ``lock_wait``.

    Attributes:
        key: The conversation key.
        waited: Seconds spent waiting for the lease.
    """

    def __init__(self, message: str, *, key: str, waited: float) -> None:
        super().__init__(message, key=key)
        self.waited = waited


class LeaseLost(StoreError):  # noqa: N818 - the name is DESIGN.md's public API
    """A fenced write was refused: another process took the conversation's lease.

    Nothing was overwritten. Raised by a store's `save` and `renew`, and by
    `Conversations.send` (then ``.messages`` holds the run's transcript, which
    was not saved).

    Attributes:
        key: The conversation key.
        token: The stale lease's fencing token.
    """

    def __init__(self, message: str, *, key: str, token: int) -> None:
        super().__init__(message, key=key)
        self.token = token


_STATUS_CLASSES: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_HINTS: Final[dict[type[APIStatusError], str]] = {
    BadRequestError: "the service refused the request body; check messages and tools",
    AuthenticationError: "check the API key (api_key= or PATHORS_API_KEY)",
    InsufficientCreditsError: "the project is out of credits; top it up in Pathors",
    PermissionDeniedError: "this key may not use this project; check project_id and the key",
    NotFoundError: ("check project_id (or PATHORS_PROJECT_ID), the session id, and base_url/api="),
    ConflictError: "the request conflicts with the session's current state",
    RateLimitError: "rate limited; slow down or give RetryPolicy more retries",
    InternalServerError: "the service failed; chat turns are not retried on 500 by default",
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Return the exception class for an HTTP error status.

    Args:
        status_code: An HTTP status of 400 or more.

    Returns:
        The mapped subclass: `InternalServerError` for 5xx only; other 4xx and
        statuses outside 400-599 (such as 999) map to `APIStatusError` itself.
    """
    if 500 <= status_code <= 599:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def hint_for(cls: type[APIStatusError], status_code: int | None = None) -> str:
    """Return what to do about an error of class `cls` (and `status_code`), for its message."""
    if status_code is not None and not 400 <= status_code <= 599:
        return f"unexpected HTTP status {status_code} (not 4xx or 5xx); see .body and .headers"
    return _HINTS.get(cls, "see .body and .headers")


def error_fields(data: object) -> tuple[str | None, Mapping[str, Any] | None]:
    """Pull the service's message and details out of a decoded error body.

    Accepts ``{"error": {"message": ..., "details": {...}}}``,
    ``{"error": "message"}``, ``{"message": ...}`` and ``{"detail": ...}``;
    anything else gives ``(None, None)``.

    Args:
        data: The decoded JSON body (any value).

    Returns:
        The message (or None) and the details mapping (or None).
    """
    if not isinstance(data, dict):
        return None, None
    error = data.get("error", data)
    if isinstance(error, str):
        return error, None
    if not isinstance(error, dict):
        return None, None
    message = error.get("message", error.get("detail"))
    details = error.get("details")
    return (
        message if isinstance(message, str) else None,
        details if isinstance(details, dict) else None,
    )


def parse_error_body(text: str) -> tuple[str | None, Mapping[str, Any] | None]:
    """Pull the service's message and details out of an error body's text.

    Args:
        text: The response body as text (HTML, plain text and empty give
            ``(None, None)``; so does JSON nested too deep to decode).

    Returns:
        The message (or None) and the details mapping (or None).
    """
    try:
        return error_fields(loads(text))
    except JSONError:
        return None, None


def clip_body(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """Cut a body to `limit` characters, saying how much was left out.

    Args:
        text: The body.
        limit: The number of characters to keep.

    Returns:
        The body, or its start followed by a note of the length cut.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"
