"""The fast check agrees with jsonschema on every value, for every schema it accepts."""

from typing import Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathors_async import Tool
from pathors_async._fastcheck import fast_check

TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=2),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=6,
)
property_schemas = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPES)
        | st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True),
        "enum": st.lists(scalars, max_size=4),
        "description": st.text(max_size=3),
        "default": scalars,
    },
)
NAMES = ["a", "b", "c"]
schemas = st.builds(
    lambda properties, required, closed: {
        "type": "object",
        "properties": properties,
        **({"required": required} if required is not None else {}),
        **({"additionalProperties": closed} if closed is not None else {}),
    },
    st.dictionaries(st.sampled_from(NAMES), property_schemas, max_size=3),
    st.none() | st.lists(st.sampled_from(NAMES), max_size=3, unique=True),
    st.none() | st.booleans(),
)
arguments = st.dictionaries(st.sampled_from([*NAMES, "d"]), json_values, max_size=4)


@settings(max_examples=400, deadline=None)
@given(schema=schemas, values=st.lists(arguments, min_size=1, max_size=5))
def test_the_fast_check_agrees_with_jsonschema(schema, values):
    jsonschema.Draft202012Validator.check_schema(schema)
    check = fast_check(schema)
    assert check is not None
    validator = jsonschema.Draft202012Validator(schema)
    for value in values:
        assert check(value) == validator.is_valid(value), value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}}},
        {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"enum": [[1]]}}},
        {"type": "object", "properties": {"a": {"type": "date"}}},
        {"type": "object", "properties": {"a": {"type": []}}},
        {"type": "object", "properties": {"a": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "required": "a"},
        {"type": "object", "properties": []},
        {"type": "object", "minProperties": 1},
        {"type": "array"},
        "object",
    ],
)
def test_other_schemas_are_left_to_jsonschema(schema):
    assert fast_check(schema) is None


def test_generated_flat_schemas_get_a_fast_check():
    def forecast(location: str, unit: Literal["c", "f"] = "c", days: int = 1) -> str:
        """Get the forecast."""
        return location

    made = Tool.from_function(forecast)
    assert made._fast is not None
    assert made._fast({"location": "x", "days": 2.0})
    assert not made._fast({"location": "x", "unit": "k"})
    assert not made._fast({"location": "x", "extra": 1})
    assert not made._fast({"unit": "c"})
