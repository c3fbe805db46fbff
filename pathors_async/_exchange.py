"""`Request` and `Response`: what goes to the transport and what comes back whole.

Pure records (no I/O), shared by the transport and the namespaces above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._config import Timeout
from ._errors import APIError, StreamError
from ._json import JSONError, loads
from ._redact import Redactor

__all__ = ["Request", "Response", "too_large"]


@attrs.frozen(kw_only=True)
class Request:
    """One request to send.

    Attributes:
        method: ``GET``, ``POST``, ``DELETE``…
        url: The full URL.
        json: The JSON body, or None for none.
        body: The body already encoded as JSON (sent instead of `json`), or None.
        session_id: Sent as ``X-Session-ID`` when given.
        timeout: The limits for the whole call, retries included.
        extra_headers: Headers merged in as is.
        idempotent: Whether it changes nothing on the server (retried on a
            cut connection).
    """

    method: str
    url: str
    json: Any = None
    body: bytes | None = attrs.field(default=None, repr=False)
    session_id: str | None = None
    timeout: Timeout
    extra_headers: Mapping[str, str] | None = None
    idempotent: bool = False

    @property
    def where(self) -> str:
        """``METHOD url``, for messages."""
        return f"{self.method} {self.url}"


@attrs.frozen(kw_only=True)
class Response:
    """A whole response with a success status (below 300).

    Attributes:
        status: The HTTP status.
        headers: The response headers (case-insensitive).
        body: The body, decoded from gzip/deflate.
        session_id: The checked ``X-Session-ID`` header, or None.
        request: The request it answers.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    session_id: str | None
    request: Request
    redactor: Redactor = attrs.field(repr=False)

    def json(self) -> Any:  # noqa: ANN401 - JSON is Any by nature
        """Decode the body as JSON.

        Raises:
            APIError: The body is not JSON, or is nested too deep to decode.
        """
        try:
            return loads(self.body)
        except JSONError as exc:
            raise self.redactor.not_json(
                self.body,
                status=self.status,
                method=self.request.method,
                url=self.request.url,
                content_type=self.headers.get("Content-Type", "no content type"),
                problem=str(exc),
            ) from None


def too_large(request: Request, limit: int, *, stream: bool) -> APIError:
    """Build the error for a body past `ResponseLimits.max_body_bytes` (`limit`)."""
    what = "stream" if stream else "response body"
    message = (
        f"the {what} from {request.where} passed ResponseLimits.max_body_bytes ({limit} bytes, "
        "after decompression); if such answers are expected, raise it with "
        f"AsyncPathors(limits=ResponseLimits(max_body_bytes={limit * 4}))"
    )
    if stream:
        return StreamError(message + "; .partial_completion holds what arrived", url=request.url)
    return APIError(message, url=request.url)
