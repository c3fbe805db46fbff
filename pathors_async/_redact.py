r"""`Redactor`: the one place where errors carrying what a server sent are built.

Whatever comes back from the network (a body, an echoed header, a bad stream
chunk, an exception's text) may hold the API key: a proxy echoing the request, a
debugging server, a hostile one. Every `APIError` built from such content is
built here, after the key is removed: in plain text, in its JSON-escaped forms
(``\\u0073k_…`` decodes to the key; ``\\/`` as PHP writes JSON), percent-encoded
(a query value, a path segment, a form field), in parsed ``details`` and in
headers. Pure: no I/O, tested directly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, quote_plus

from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import (
    REDACTED,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    StreamError,
    clip_body,
    error_fields,
    hint_for,
    status_error_class,
)
from ._json import JSONError, dumps, loads
from ._untrusted import ResponseShapeError, checked_session_id

if TYPE_CHECKING:
    from ._models import ChatCompletion

__all__ = ["NOT_JSON", "Redactor", "status_in"]

#: Keys shorter than this are refused as a received session id only when equal to it.
SHORT_KEY: Final = 8

#: Returned by `Redactor.payload` for a body that is not JSON.
NOT_JSON: Final = object()


def status_in(error: object) -> int | None:
    """Find an HTTP status in a decoded error payload (``status``, ``status_code`` or ``code``).

    ``"500"`` counts like ``500``; anything outside 400-599 is not a status.

    Args:
        error: The decoded payload (``{"error": {...}}`` or the inner object).

    Returns:
        The status, or None.
    """
    if isinstance(error, dict):
        error = error.get("error", error)
    if not isinstance(error, dict):
        return None
    for key in ("status", "status_code", "code"):
        value = error.get(key)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 3:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    return None


def _forms_of(secret: str) -> tuple[str, ...]:
    """Every way a server may write `secret` back: raw, JSON-escaped, percent-encoded."""
    escaped = (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])
    slashed = tuple(form.replace("/", "\\/") for form in escaped)  # JSON as PHP writes it
    encoded = (quote(secret, safe=""), quote(secret), quote_plus(secret))
    # Longest first, so a form that contains another is replaced whole.
    return tuple(sorted({secret, *escaped, *slashed, *encoded}, key=len, reverse=True))


class Redactor:
    """Removes one secret from anything a server sent, and builds errors from it.

    Args:
        secret: The API key (None or empty: nothing to remove).
    """

    __slots__ = ("_forms", "_secret")

    def __init__(self, secret: str | None) -> None:
        self._secret = secret or None
        self._forms: tuple[str, ...] = ()
        if secret:
            self._forms = _forms_of(secret)

    def __repr__(self) -> str:
        return "Redactor()"

    # ------------------------------------------------------------ cleaning

    def text(self, text: str) -> str:
        """Return `text` with every form of the secret replaced by ``[redacted]``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """Return `headers` (case-insensitive), with the secret removed from every value."""
        if not self._forms or not self._holds("\n".join(headers.values())):
            return headers
        cleaned = CIMultiDict((name, self.text(value)) for name, value in headers.items())
        return CIMultiDictProxy(cleaned)

    def payload(self, raw: bytes | str) -> tuple[str, Any]:
        """Decode a body: its redacted text, and its redacted JSON value (or `NOT_JSON`).

        A secret hidden by JSON escapes (so only the decoded value holds it) is
        removed from the value, and the text is then the value, encoded again.
        """
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        text = self.text(text)
        try:
            value = loads(text)
        except JSONError:
            return text, NOT_JSON
        if self._forms and isinstance(value, (dict, list, str)):
            try:
                encoded = dumps(value).decode()
            except ValueError:
                return text, NOT_JSON
            if self._holds(encoded):
                text = self.text(encoded)
                value = loads(text)
        return text, value

    def _holds(self, text: str) -> bool:
        return any(form in text for form in self._forms)

    def _is_key(self, session_id: str) -> bool:
        """Whether a received session id is (or holds) the key.

        A key shorter than `SHORT_KEY` characters counts only when the id is the
        key itself: such a key is found inside ordinary ids by chance.
        """
        if self._secret is None:
            return False
        if len(self._secret) < SHORT_KEY:
            return session_id == self._secret
        return self._holds(session_id)

    # ------------------------------------------------------------ errors

    def status_error(
        self,
        *,
        method: str,
        url: str,
        status_code: int,
        reason: str | None,
        headers: Mapping[str, str],
        body: bytes,
        session_id: str | None = None,
        cut: bool = False,
    ) -> APIStatusError:
        """Build the typed exception for an HTTP error response.

        Works with the documented JSON shapes and with anything else (an HTML
        page from a proxy, an empty body): the message then says what arrived.

        Args:
            method: The request method, for the message.
            url: The request URL.
            status_code: The HTTP status.
            reason: The HTTP reason phrase, if the server sent one.
            headers: The response headers.
            body: The raw response body (or its start).
            session_id: The session the request belonged to, if known.
            cut: Whether `body` is only the start of a longer body.

        Returns:
            An instance of the class `status_error_class` picks.
        """
        text, value = self.payload(body)
        service_message, details = error_fields(value)
        headers = self.headers(headers)
        if service_message is not None:
            said = " ".join(service_message.split())
        elif not text.strip():
            said = "empty response body"
        else:
            content_type = headers.get("Content-Type", "unknown content type")
            size = f"{len(body)}+" if cut else str(len(body))
            said = f"the body was not a JSON error ({content_type}, {size} bytes; see .body)"
        # The reason phrase is the server's text too: it may echo the key.
        status = (
            f"{status_code} {clip_body(self.text(reason), 100)}" if reason else str(status_code)
        )
        cls = status_error_class(status_code)
        hint = hint_for(cls, status_code)
        return cls(
            f"{status} from {method} {url}: {self.text(said).rstrip('.')}; {hint}",
            url=url,
            status_code=status_code,
            headers=headers,
            body=clip_body(text),
            session_id=session_id,
            details=details,
        )

    def in_band_error(
        self,
        data: str | bytes,
        *,
        said: str,
        url: str,
        headers: Mapping[str, str],
        session_id: str | None,
        partial_completion: ChatCompletion | None = None,
        stream: bool = True,
    ) -> APIError:
        """Build the exception for an error the server sent inside a 200 (a stream or a body).

        Args:
            data: The payload as sent (``{"error": ...}``, ``{"detail": ...}``…).
            said: Where it came from, e.g. "the server reported an error in …".
            url: The request URL.
            headers: The response headers.
            session_id: The session, if known.
            partial_completion: What a stream assembled before the error.
            stream: Whether it came in a stream (a `StreamError` when untyped).

        Returns:
            A status error when the payload names a status (``"code": "500"``
            counts), else a `StreamError` (stream) or an `APIError` (body).
        """
        text, value = self.payload(data)
        message, details = error_fields(value)
        if message is None:
            message = clip_body(text.strip(), 200) or "no details given"
        full = f"{said}: {self.text(' '.join(message.split()))}"
        status = status_in(value)
        if status is None:
            cls = StreamError if stream else APIError
            return cls(full, url=url, body=clip_body(text), partial_completion=partial_completion)
        return status_error_class(status)(
            full,
            url=url,
            status_code=status,
            headers=self.headers(headers),
            body=clip_body(text),
            session_id=session_id,
            details=details,
            partial_completion=partial_completion,
        )

    def bad_chunk(
        self,
        data: str,
        *,
        problem: str,
        where: str,
        url: str,
        partial_completion: ChatCompletion | None,
    ) -> StreamError:
        """Build the `StreamError` for a stream chunk that cannot be used.

        Args:
            data: The chunk's data as sent.
            problem: What is wrong with it ("is not JSON (…)").
            where: Which chunk of which stream, for the message.
            url: The request URL.
            partial_completion: What arrived before it.

        Returns:
            The error, its message and `.body` free of the secret.
        """
        text = self.text(data)
        return StreamError(
            f"{where} {self.text(problem)}: data: {clip_body(text, 200)}",
            url=url,
            body=clip_body(text),
            partial_completion=partial_completion,
        )

    def not_json(
        self, body: bytes, *, status: int, method: str, url: str, content_type: str, problem: str
    ) -> APIError:
        """Build the `APIError` for a success answer whose body is not (usable) JSON."""
        text = self.text(body.decode("utf-8", "replace"))
        return APIError(
            f"{status} from {method} {url} was not JSON ({content_type}, {len(body)} bytes: "
            f"{problem}; see .body)",
            url=url,
            body=clip_body(text),
        )

    def received_session_id(self, value: object, *, url: str) -> str | None:
        """Check a session id the server sent before it is kept and sent back.

        Args:
            value: The ``X-Session-ID`` header or the body's ``session_id``.
            url: The request URL, for the message.

        Returns:
            The id, or None when none was sent (empty counts as none).

        Raises:
            APIError: The id holds control characters (CR, LF, NUL…) or is not
                valid UTF-8: it could never be sent back in a header; or it holds
                the API key (in any form `text` redacts).
        """
        if isinstance(value, str) and self._is_key(value):
            raise APIError(
                f"the server at {url} sent the API key as the session id; it was not kept "
                "(it would be stored and logged as an id). Report this to the server's operator",
                url=url,
            )
        if value is None or isinstance(value, str):
            with contextlib.suppress(ResponseShapeError):
                return checked_session_id(value)
        shown = clip_body(self.text(repr(value)), 100)
        raise APIError(
            f"the server at {url} sent a session id that cannot be sent back in the "
            f"X-Session-ID header ({shown}: control characters, surrounding spaces or "
            "invalid UTF-8); it was not kept. Report this to the server's operator",
            url=url,
        )

    def redirect_error(
        self, *, where: str, url: str, status: int, headers: Mapping[str, str]
    ) -> APIError:
        """Build the error for a redirect, which is never followed.

        Args:
            where: ``METHOD url`` of the request.
            url: The request URL.
            status: The 3xx status.
            headers: The response headers (already redacted).

        Returns:
            An `APIError` naming the ``Location``.
        """
        location = clip_body(self.text(headers.get("Location", "no Location header")), 300)
        return APIError(
            f"{where} answered {status}, a redirect to Location: {location}; redirects are "
            "never followed (the body and X-Session-ID would be sent again elsewhere): "
            "point base_url at the final address",
            url=url,
        )

    def cut_error_body(
        self, error: APIError, *, status: int, where: str, body: bytes
    ) -> APIConnectionError:
        """Build the error for an error status whose body stalled or broke off.

        Args:
            error: What reading the body raised (a timeout or a cut).
            status: The HTTP status that had arrived.
            where: ``METHOD url`` of the request.
            body: The part of the body that arrived.

        Returns:
            An `APITimeoutError` (or `APIConnectionError`) whose `.body` keeps
            what arrived.
        """
        kind = APITimeoutError if isinstance(error, APITimeoutError) else APIConnectionError
        cut = kind(
            f"{status} from {where}, then {error.message} "
            "(the error body is cut; .body holds what arrived)",
            url=error.url,
            body=clip_body(self.text(body.decode("utf-8", "replace"))),
        )
        cut.__cause__ = error.__cause__
        return cut
