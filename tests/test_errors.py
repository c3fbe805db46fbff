import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

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
    MaxTurnsExceeded,
    NotFoundError,
    PathorsError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    ToolArgumentsError,
    ToolError,
    ToolExecutionError,
    ToolNotFoundError,
)
from pathors_async._errors import (
    MAX_BODY_CHARS,
    clip_body,
    parse_error_body,
    status_error_class,
)
from pathors_async._redact import Redactor

URL = "http://127.0.0.1:1/v1/projects/p/chat/completions"


def headers(**items):
    return CIMultiDictProxy(CIMultiDict(items))


def error_for(status, body, *, content_type="application/json", api_key=None, reason=None):
    return Redactor(api_key).status_error(
        method="POST",
        url=URL,
        status_code=status,
        reason=reason,
        headers=headers(**{"Content-Type": content_type}),
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
        session_id="s-1",
    )


def test_the_tree_is_the_documented_one():
    assert issubclass(APIError, PathorsError)
    assert issubclass(APIStatusError, APIError)
    for cls in (
        BadRequestError,
        AuthenticationError,
        InsufficientCreditsError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        RateLimitError,
        InternalServerError,
    ):
        assert cls.__mro__[1] is APIStatusError
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APITimeoutError, TimeoutError)
    assert issubclass(StreamError, APIError)
    for cls in (ToolNotFoundError, ToolArgumentsError, ToolExecutionError):
        assert cls.__mro__[1] is ToolError
    assert issubclass(ToolError, PathorsError)
    assert issubclass(MaxTurnsExceeded, PathorsError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
        (422, APIStatusError),
    ],
)
def test_statuses_map_to_classes(status, cls):
    assert status_error_class(status) is cls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"error": {"message": "bad", "details": {"f": 1}}}', ("bad", {"f": 1})),
        ('{"error": "Invalid authentication"}', ("Invalid authentication", None)),
        ('{"message": "flat"}', ("flat", None)),
        ('{"detail": "fastapi style"}', ("fastapi style", None)),
        ('{"error": {"details": "not a dict"}}', (None, None)),
        ('{"error": 5}', (None, None)),
        ("[1, 2]", (None, None)),
        ("<html>502 Bad Gateway</html>", (None, None)),
        ("", (None, None)),
    ],
)
def test_error_bodies_of_every_shape(text, expected):
    assert parse_error_body(text) == expected


def test_structured_body_gives_message_details_and_hint():
    error = error_for(400, {"error": {"message": "messages is required", "details": {"f": "m"}}})
    assert isinstance(error, BadRequestError)
    assert str(error) == (
        f"400 from POST {URL}: messages is required; "
        "the service refused the request body; check messages and tools"
    )
    assert error.details == {"f": "m"}
    assert error.status_code == 400
    assert error.session_id == "s-1"
    assert error.headers["content-type"] == "application/json"


def test_string_body_and_reason_phrase():
    error = error_for(401, {"error": "Invalid authentication"}, reason="Unauthorized")
    assert str(error).startswith(f"401 Unauthorized from POST {URL}: Invalid authentication; ")
    assert "PATHORS_API_KEY" in str(error)


def test_html_body_from_a_proxy_is_described_not_parsed():
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    error = error_for(502, page, content_type="text/html")
    assert isinstance(error, InternalServerError)
    assert "the body was not a JSON error (text/html, 50 bytes; see .body); " in str(error)
    assert error.body == page.decode()


def test_empty_body():
    assert "empty response body" in str(error_for(503, b""))


def test_long_bodies_are_cut_and_say_so():
    text = "x" * (MAX_BODY_CHARS + 10)
    assert clip_body(text) == "x" * MAX_BODY_CHARS + "… [10 more characters cut]"
    assert clip_body("short") == "short"
    assert error_for(500, text.encode(), content_type="text/plain").body == clip_body(text)


def test_an_echoed_key_is_redacted_everywhere():
    key = "sk_live_secret123"
    error = error_for(401, {"error": f"Key {key} is revoked"}, api_key=key)
    assert key not in str(error)
    assert key not in repr(error)
    assert key not in error.body
    assert "[redacted]" in str(error)


def test_status_error_repr_is_short():
    assert repr(error_for(404, {"error": "gone"})).startswith("NotFoundError(status_code=404, ")


def test_misshaped_messages_are_flattened_to_one_line():
    error = error_for(500, {"error": {"message": "line one\n  line two"}})
    assert "line one line two" in str(error)
    assert "\n" not in str(error)
