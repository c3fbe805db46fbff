"""The rules for values from the network, on their own."""

import re

import pytest

from pathors_async._untrusted import (
    ResponseShapeError,
    checked_session_id,
    clean_json,
    clean_text,
    generated_call_id,
    reply_role,
)


def test_clean_text_returns_the_same_object_when_there_is_nothing_to_replace():
    for text in ("ascii", "天氣 é 😀"):
        assert clean_text(text) is text
    assert clean_text("a\ud800b\udfff") == "a\ufffdb\ufffd"


def test_clean_json_cleans_keys_and_values_at_every_depth():
    assert clean_json({"k\ud800": [{"v": "\udc00"}, 1, None]}) == {
        "k\ufffd": [{"v": "\ufffd"}, 1, None]
    }


def test_generated_call_ids_depend_on_position_completion_name_and_arguments():
    first = generated_call_id(0, "c", "f", "{}")
    assert re.fullmatch(r"call_0_[0-9a-f]{12}", first)
    assert first == generated_call_id(0, "c", "f", "{}")
    others = {
        generated_call_id(1, "c", "f", "{}"),
        generated_call_id(0, "d", "f", "{}"),
        generated_call_id(0, "c", "g", "{}"),
        generated_call_id(0, "c", "f", "{ }"),
    }
    assert first not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    ("role", "fields", "expected"),
    [
        ("assistant", {}, "assistant"),
        ("model", {"content": "x"}, "assistant"),
        (None, {"content": "x"}, "assistant"),
        ("system", {}, "assistant"),
        ("system", {"content": "x"}, "system"),
        # Only an assistant message may carry tool calls in a request: kept as "user" or
        # "system", the tool messages answering it would be orphans to the service.
        ("user", {"tool_calls": [1]}, "assistant"),
        ("system", {"content": "x", "tool_calls": [1]}, "assistant"),
        ("tool", {"content": "x"}, "assistant"),
        ("tool", {"content": "x", "tool_call_id": "c"}, "tool"),
    ],
)
def test_reply_role_keeps_a_role_only_when_it_makes_a_valid_message(role, fields, expected):
    arguments = {"content": None, "tool_calls": None, "tool_call_id": None, **fields}
    assert reply_role(role, **arguments) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("s-1", "s-1"), (12, "12"), ("會話", "會話")]
)
def test_session_ids_that_can_go_back_in_a_header_are_kept(value, expected):
    assert checked_session_id(value) == expected


@pytest.mark.parametrize("value", ["a\nb", "s ", " s", "\x7f", "s\ud800", "會話\n", 1.5, True])
def test_session_ids_that_cannot_go_back_in_a_header_are_refused(value):
    with pytest.raises(ResponseShapeError, match=r"^session_id "):
        checked_session_id(value)
