"""`_redact.Redactor`: the key never survives into an error, in any form."""

import json
from urllib.parse import quote, quote_plus

import pytest
from multidict import CIMultiDict

from pathors_async import APIError, APIStatusError, InternalServerError, StreamError
from pathors_async._redact import NOT_JSON, Redactor, status_in

KEY = "sk_test_4f9c2e7d1a"
ODD_KEY = 'sk_"odd"\\key/é'  # every form differs: plain, JSON-escaped, ASCII-escaped
URL = "http://127.0.0.1:1/v1/chat"


@pytest.mark.parametrize("key", [KEY, ODD_KEY])
def test_every_form_of_the_key_is_removed_from_text(key):
    redactor = Redactor(key)
    for form in (key, json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1]):
        assert redactor.text(f"a {form} b") == "a [redacted] b"
    assert key not in repr(redactor)


@pytest.mark.parametrize("key", [KEY, ODD_KEY, 'sk_fault/M4trix+9q="Zx'])
def test_percent_encoded_and_slash_escaped_forms_are_removed(key):
    redactor = Redactor(key)
    forms = (
        quote(key, safe=""),  # a query value, as a proxy echoing the request writes it
        quote(key),  # a path segment
        quote_plus(key),  # a form field
        json.dumps(key)[1:-1].replace("/", "\\/"),  # JSON as PHP writes it
    )
    for form in forms:
        assert redactor.text(f"a {form} b") == "a [redacted] b", form
    assert redactor.headers({"Location": f"/x?k={quote(key, safe='')}"}) == {
        "Location": "/x?k=[redacted]"
    }


def test_no_key_changes_nothing():
    redactor = Redactor(None)
    assert redactor.text("anything") == "anything"
    headers = {"X": "y"}
    assert redactor.headers(headers) is headers


def test_headers_are_copied_only_when_they_hold_the_key():
    redactor = Redactor(KEY)
    clean = CIMultiDict({"A": "b"})
    assert redactor.headers(clean) is clean
    echoed = redactor.headers(CIMultiDict([("Echo", f"Bearer {KEY}"), ("Echo", "2")]))
    assert list(echoed.items()) == [("Echo", "Bearer [redacted]"), ("Echo", "2")]
    assert echoed["echo"] == "Bearer [redacted]"


def test_a_key_hidden_by_json_escapes_is_removed_from_value_and_text():
    escaped = "\\u0073" + KEY[1:]
    text, value = Redactor(KEY).payload(('{"k": "' + escaped + '"}').encode())
    assert value == {"k": "[redacted]"}
    assert json.loads(text) == {"k": "[redacted]"}
    assert KEY not in text


def test_payload_of_non_json_and_deep_json():
    assert Redactor(KEY).payload(b"<html>") == ("<html>", NOT_JSON)
    deep = "[" * 100_000 + "]" * 100_000
    assert Redactor(KEY).payload(deep)[1] is NOT_JSON


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"error": {"code": 500}}, 500),
        ({"error": {"code": "503"}}, 503),
        ({"error": {"status": 429}}, 429),
        ({"status_code": 404}, 404),
        ({"error": {"code": "5000"}}, None),
        ({"error": {"code": "rate_limited"}}, None),
        ({"error": {"code": True}}, None),
        ({"error": {"code": 200}}, None),
        ({"error": "text"}, None),
        ([1], None),
    ],
)
def test_status_in(payload, status):
    assert status_in(payload) == status


def test_in_band_errors_are_typed_by_their_code():
    redactor = Redactor(KEY)
    error = redactor.in_band_error(
        json.dumps({"error": {"message": f"echo {KEY}", "code": "500"}}),
        said="in the stream",
        url=URL,
        headers={},
        session_id="s",
    )
    assert isinstance(error, InternalServerError)
    assert error.status_code == 500
    assert KEY not in str(error)
    assert KEY not in (error.body or "")
    plain = redactor.in_band_error(b"not json", said="x", url=URL, headers={}, session_id=None)
    assert type(plain) is StreamError
    assert "not json" in str(plain)
    body = redactor.in_band_error(
        b'{"detail": "nope"}', said="x", url=URL, headers={}, session_id=None, stream=False
    )
    assert type(body) is APIError
    assert str(body) == "x: nope"


def test_status_error_of_a_cut_body_says_so():
    error = Redactor(KEY).status_error(
        method="POST",
        url=URL,
        status_code=502,
        reason=None,
        headers={"Content-Type": "text/html"},
        body=b"<html>" + b"x" * 100,
        cut=True,
    )
    assert isinstance(error, APIStatusError)
    assert "106+ bytes" in str(error)


@pytest.mark.parametrize("bad", ["a\r\nb", "a\x00", "\udcff", " padded ", 5])
def test_received_session_ids_that_cannot_go_back_are_refused(bad):
    with pytest.raises(APIError, match="session id that cannot be sent back"):
        Redactor(KEY).received_session_id(bad, url=URL)


def test_received_session_ids_that_are_fine():
    redactor = Redactor(KEY)
    assert redactor.received_session_id("abc-123", url=URL) == "abc-123"
    assert redactor.received_session_id("", url=URL) is None
    assert redactor.received_session_id(None, url=URL) is None


def test_a_redirect_error_names_the_location_without_the_key():
    error = Redactor(KEY).redirect_error(
        where=f"POST {URL}", url=URL, status=307, headers={"Location": f"http://x/?k={KEY}"}
    )
    assert "Location: http://x/?k=[redacted]" in str(error)
    assert "never followed" in str(error)


def test_a_reason_phrase_echoing_the_key_is_redacted():
    error = Redactor(KEY).status_error(
        method="POST", url=URL, status_code=500, reason=f"Bearer {KEY}", headers={}, body=b""
    )
    assert str(error).startswith("500 Bearer [redacted] from POST")
    assert KEY not in repr(error)
