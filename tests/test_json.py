"""`_json`: one place for JSON, never a RecursionError."""

import pytest

from pathors_async._json import JSONError, dumps, loads


def test_round_trip_keeps_non_ascii_text():
    value = {"text": "héllo 台北", "n": [1, 2.5, None, True]}
    assert dumps(value) == '{"text": "héllo 台北", "n": [1, 2.5, null, true]}'.encode()
    assert loads(dumps(value)) == value
    assert loads('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("depth", [100_000, 1_000_000])
def test_deep_nesting_is_a_json_error_not_a_recursion_error(depth):
    with pytest.raises(JSONError, match="nested too deep"):
        loads("[" * depth + "]" * depth)


def test_malformed_json_says_where():
    with pytest.raises(JSONError, match=r"Expecting value: line 1 column 2 \(char 1\)"):
        loads("[")
    with pytest.raises(JSONError, match="not UTF-8 text"):
        loads(b'"\xff"')
    assert issubclass(JSONError, ValueError)


def test_dumps_refuses_what_json_cannot_carry():
    with pytest.raises(ValueError, match="lone surrogate"):
        dumps({"text": "\ud800"})
    with pytest.raises(ValueError, match="cannot be sent as JSON"):
        dumps({"x": float("nan")})
    with pytest.raises(TypeError):
        dumps({"x": object()})
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deep"):
        dumps(deep)
