"""`_json`: one place for JSON, never a RecursionError."""

import os
import subprocess
import sys

import pytest

from pathors_async._json import JSONError, dumps, loads


def test_round_trip_keeps_non_ascii_text():
    value = {"text": "héllo 台北", "n": [1, 2.5, None, True]}
    assert dumps(value) == '{"text":"héllo 台北","n":[1,2.5,null,true]}'.encode()
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


# ---------------------------------------------------------------- both backends agree
# With the speedups extra (orjson, in the dev install) `loads` and `dumps` must answer
# exactly as the standard library path (`_pure_loads`, `_pure_dumps`) does: the same
# value, or the same error with the same message. `make test` runs the suite again with
# PATHORS_ASYNC_PURE=1, where both sides are the standard path.

import enum  # noqa: E402
import math  # noqa: E402
import uuid  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pathors_async import _json  # noqa: E402


def outcome(call, arg):
    try:
        value = call(arg)
    except (ValueError, TypeError) as exc:
        return ("error", type(exc), str(exc))
    return ("ok", same_shape(value))


def same_shape(value):
    """A comparable form: types kept (1 != 1.0 != True), NaN equal to itself, key order kept."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, dict):
        return ("dict", [(key, same_shape(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [same_shape(item) for item in value])
    return (type(value), value)


def decoded_outcome(call, arg):
    """For dumps: the same error, or bytes that decode (by the standard path) to the same value."""
    result = outcome(call, arg)
    if result[0] == "ok":
        return ("ok", same_shape(_json._pure_loads(result[1][1])))
    return result


HOSTILE_TEXTS = [
    '{"a": 1, "b": 2, "a": 3}',  # duplicate keys: the last value, in the first place
    "NaN",
    "[Infinity, -Infinity]",
    "1E400",
    "-0",
    "-0.0",
    "123456789012345678901234567890",  # past 64 bits: orjson would make it a float
    "-9223372036854775809",
    "18446744073709551616",
    "9223372036854775807",
    "[1.7976931348623157e308, 5e-324, 2.2250738585072011e-308]",
    '"\\ud800"',  # a lone surrogate escape
    '{"\\udc00": 1}',
    '"\\ud83d\\ude00"',
    "\ufeff{}",  # a byte order mark
    "[1,]",
    "",
    " ",
    '"\x01"',  # a raw control character
    '"\\u0000"',
    "[" * 2000 + "]" * 2000,  # past orjson's depth limit, within Python's
    "[" * 100_000 + "]" * 100_000,
    '{"a": [1, 2.5, null, true, false, "x"]}',
    "1.0000000000000000000000001",  # a long mantissa
    '["12345678901234567890123", 1]',  # long digits in a string: the standard path, same value
    '{"a": "\x00"}',  # a raw NUL (what the digit check looks for): not JSON either way
    "1000000000000000000",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_loads_answers_as_the_standard_library_does(text):
    assert outcome(loads, text) == outcome(_json._pure_loads, text)
    if "\ud800" not in text:
        raw = text.encode()
        assert outcome(loads, raw) == outcome(_json._pure_loads, raw)


@pytest.mark.parametrize(
    "raw", [b'"\xff"', b'"\xed\xa0\x80"', b"\xef\xbb\xbf{}", b'{"a": "\xc3"}', b"\x00"]
)
def test_loads_answers_bad_utf8_as_the_standard_library_does(raw):
    assert outcome(loads, raw) == outcome(_json._pure_loads, raw)
    assert outcome(loads, raw)[0] == "error"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dumps_and_loads_agree_with_the_standard_library(value):
    assert decoded_outcome(dumps, value) == decoded_outcome(_json._pure_dumps, value)
    text = _json._pure_dumps(value) if outcome(_json._pure_dumps, value)[0] == "ok" else None
    if text is not None:
        assert outcome(loads, text) == outcome(_json._pure_loads, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tnrufals \\u'))
def test_loads_agrees_on_json_like_noise(text):
    assert outcome(loads, text) == outcome(_json._pure_loads, text)
    assert outcome(loads, text.encode()) == outcome(_json._pure_loads, text.encode())


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


NOT_PLAIN = [
    {"x": float("nan")},
    {"x": [float("inf")]},
    {"x": uuid.UUID(int=1)},  # orjson would write it as a string
    {"x": Colour.RED},  # orjson would write "red"
    {"x": Level.HIGH},  # the standard encoder writes 3
    {"x": Text("t")},
    {1: "one", False: "no", None: "none", 2.5: "half"},  # non-str keys become strings
    {"x": (1, 2)},  # a tuple is a list
    {"x": "\ud800"},
    {"x": 2**64},
    {"x": 2**5000},
    {"x": object()},
    {"x": b"bytes"},
    {"x": {1, 2}},
]


@pytest.mark.parametrize("value", NOT_PLAIN, ids=range(len(NOT_PLAIN)))
def test_dumps_treats_other_values_as_the_standard_library_does(value):
    assert decoded_outcome(dumps, value) == decoded_outcome(_json._pure_dumps, value)


def test_dumps_of_deep_values_agrees():
    deep: list[object] = []
    for _ in range(300):  # past orjson's depth limit for dumps, within Python's
        deep = [deep]
    assert dumps(deep) == _json._pure_dumps(deep)


def test_backend_follows_the_environment():
    expected = "json" if os.environ.get("PATHORS_ASYNC_PURE", "") not in ("", "0") else "orjson"
    assert expected == _json.BACKEND


def test_pure_switch_is_read_at_import(tmp_path):
    script = "from pathors_async import _json; print(_json.BACKEND)"
    for setting, backend in (("1", "json"), ("", "orjson"), ("0", "orjson")):
        env = {**os.environ, "PATHORS_ASYNC_PURE": setting}
        ran = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert ran.stdout.strip() == backend


def test_encoded_bytes_hold_no_more_memory_than_their_length():
    """orjson's own bytes hold a block of 4 KiB or more: `dumps` gives a compact copy."""
    import tracemalloc  # noqa: PLC0415

    bodies = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(200)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [dumps(body) for body in bodies] + [_json.dumps_plain(body) for body in bodies]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown / len(kept) < 256, f"{grown / len(kept):.0f} bytes per {len(kept[0])}-byte body"
