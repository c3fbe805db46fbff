"""The pure steps of a tool call: parsing arguments and describing problems."""

import jsonschema
import pytest

from pathors_async import ToolFailure
from pathors_async._dispatch import Failed, describe_errors, parse_arguments, unknown_tool


def test_arguments_may_be_text_a_mapping_or_nothing():
    assert parse_arguments("t", '{"a": 1}', 100) == {"a": 1}
    assert parse_arguments("t", {"a": 1}, 100) == {"a": 1}
    assert parse_arguments("t", None, 100) == {}
    assert parse_arguments("t", "  \n", 100) == {}


def test_the_size_limit_counts_utf8_bytes_exactly():
    at_limit = '{"a": "' + "é" * 5 + '"}'  # 9 ASCII bytes + 10 bytes of é
    assert len(at_limit.encode()) == 19
    assert parse_arguments("t", at_limit, 19) == {"a": "ééééé"}
    with pytest.raises(Failed) as info:
        parse_arguments("t", at_limit, 18)
    assert info.value.failure is ToolFailure.TOO_LARGE
    assert "19 bytes, over the limit of 18 bytes" in info.value.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1", "a number"),
        ('"x"', "a string"),
        ("null", "null"),
        ("true", "a boolean"),
        ("[]", "an array"),
    ],
)
def test_non_objects_are_named_in_json_terms(text, kind):
    with pytest.raises(Failed, match=f"must be a JSON object, not {kind}"):
        parse_arguments("t", text, 100)


def test_the_json_error_points_near_the_problem():
    text = '{"a": 1, "b": 2, "c": 3, "d": 4, "e" 5, "f": 6}'
    with pytest.raises(Failed) as info:
        parse_arguments("t", text, 1000)
    assert info.value.failure is ToolFailure.INVALID_JSON
    assert "Expecting ':' delimiter at line 1, column 38" in info.value.message
    assert '(near \'"c": 3, "d": 4, "e" 5, "f": 6}\')' in info.value.message


def test_problems_are_listed_in_path_order_and_capped():
    schema = {"type": "object", "properties": {f"p{i:02}": {"type": "integer"} for i in range(12)}}
    errors = jsonschema.Draft202012Validator(schema).iter_errors(
        {f"p{i:02}": "x" for i in range(12)}
    )
    lines = describe_errors(errors)
    assert lines[0] == "$.p00: 'x' is not of type 'integer'"
    assert lines[9] == "$.p09: 'x' is not of type 'integer'"
    assert lines[10:] == ("… and 2 more",)


def test_an_unknown_tool_with_no_tools_at_all():
    assert unknown_tool("x", []).message == "There is no tool named 'x'. Available tools: none."
