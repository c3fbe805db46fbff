"""The session id check shared by the resources and the agent (pure)."""

import pytest

from pathors_async._ids import check_session_id


def test_good_ids_pass_unchanged():
    assert check_session_id(None) is None
    assert check_session_id("s-1") == "s-1"


@pytest.mark.parametrize(
    ("value", "error", "text"),
    [
        (5, TypeError, "session_id must be a string, not int"),
        ("", ValueError, "is empty or has surrounding whitespace"),
        (" s", ValueError, "is empty or has surrounding whitespace"),
        ("a\r\nb", ValueError, "contains control characters"),
    ],
)
def test_bad_ids_say_why(value, error, text):
    with pytest.raises(error, match=text):
        check_session_id(value)
