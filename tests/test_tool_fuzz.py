"""Hypothesis: any arguments give a ToolResult; any signature a valid schema or a TypeError."""

import asyncio
import enum
import inspect
import json
import re
from typing import Annotated, Any, Literal, TypedDict, Union

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathors_async import FunctionCall, ToolCall, ToolRegistry, ToolResult
from pathors_async._arguments import converter_for
from pathors_async._schema import SchemaError, function_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Point:
    x: Annotated[float, {"minimum": 0}]
    color: Color = Color.RED


class Movie(TypedDict):
    title: str
    year: int


@pytest.fixture(scope="module")
def loop():
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def registry():
    tools = ToolRegistry(max_argument_bytes=64 * 1024)

    @tools.tool
    async def plain(text: str, n: int = 0, ratio: float = 1.0) -> dict[str, Any]:
        return {"text": text, "n": n, "ratio": ratio}

    @tools.tool
    async def shaped(point: Point, rates: list[Annotated[float, {"minimum": 0}]]) -> Point:
        return point

    @tools.tool
    def anything(value: Any = None) -> Any:
        return value

    yield tools
    tools.close()


SPECIAL = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"text"',
    '"n"',
    '"value"',
    '"point"',
    '"x"',
    "1",
    "-0.5",
    "3.0",
    "1e999",
    "NaN",
    "-Infinity",
    "null",
    "true",
    '"\\ud800"',
    '"\\udfff\\ud83d"',
    "\ud800",
    "9" * 5000,
    "[" * 200,
    "]" * 200,
    " ",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
argument_texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(SPECIAL), max_size=30).map("".join),
    st.fixed_dictionaries(
        {},
        optional={
            "text": json_values,
            "n": json_values,
            "ratio": json_values,
            "value": json_values,
        },
    ).map(json.dumps),
    st.builds(
        lambda value, depth: (
            json.dumps({"value": value}).replace('"value": ', '"value": ' + "[" * depth, 1)[:-1]
            + "]" * depth
            + "}"
        ),
        json_values,
        st.integers(min_value=0, max_value=3000),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["plain", "shaped", "anything", "missing\ud800"]), text=argument_texts)
def test_any_arguments_text_gives_a_tool_result(loop, registry, name, text):
    call = ToolCall(id="c", function=FunctionCall(name=name, arguments=text))
    result = loop.run_until_complete(registry.dispatch(call))
    assert isinstance(result, ToolResult)
    assert result.tool_call_id == "c"
    result.content.encode()
    result.name.encode()


class Recursive:
    """Not a supported type: the generator must refuse it with a TypeError."""


def union(members):
    try:
        return Union[members]  # noqa: UP007 - built at run time
    except TypeError:  # typing hashes the members: Annotated[T, {dict}] cannot be in a Union
        return list[members[0]]


leaf_types = st.sampled_from(
    [str, int, float, bool, None, Any, Color, Point, Movie, Literal["a", "b"], complex, bytes]
)
annotations = st.recursive(
    leaf_types,
    lambda inner: st.one_of(
        inner.map(lambda t: list[t]),
        inner.map(lambda t: tuple[t, ...]),
        st.tuples(inner, inner).map(lambda ts: tuple[ts[0], ts[1]]),
        inner.map(lambda t: dict[str, t]),
        inner.map(lambda t: dict[int, t]),
        inner.map(lambda t: set[t]),
        st.tuples(inner, st.none()).map(union),
        st.tuples(inner, inner).map(union),
        inner.map(lambda t: Annotated[t, {"minimum": 0}]),
        inner.map(lambda t: Annotated[t, "A description"]),
    ),
    max_leaves=6,
)


def function_with(hints, defaults):
    def f(**kwargs):
        return kwargs

    parameters = []
    for position, (hint, has_default) in enumerate(zip(hints, defaults, strict=False)):
        parameters.append(
            inspect.Parameter(
                f"p{position}",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=hint,
                default=None if has_default else inspect.Parameter.empty,
            )
        )
    f.__signature__ = inspect.Signature(parameters)
    f.__annotations__ = {p.name: p.annotation for p in parameters}
    return f


@settings(max_examples=300, deadline=None)
@given(
    hints=st.lists(annotations, max_size=4),
    defaults=st.lists(st.booleans(), min_size=4, max_size=4),
    strict=st.booleans(),
)
def test_any_signature_gives_a_valid_schema_or_a_type_error_naming_the_parameter(
    hints, defaults, strict
):
    function = function_with(hints, defaults)
    try:
        schema = function_schema(function, strict=strict, make_converter=converter_for)
    except SchemaError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert isinstance(error, TypeError)
        assert re.match(r"f\(p\d\)", str(error)), str(error)
        return
    jsonschema.Draft202012Validator.check_schema(schema.parameters)
    assert [param.name for param in schema.params] == [f"p{i}" for i in range(len(hints))]
