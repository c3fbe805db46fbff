"""Signatures and docstrings to JSON Schema: a table, each schema checked by jsonschema."""

import enum
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, Union

import attrs
import jsonschema
import pytest

from pathors_async._schema import SchemaError, function_schema, parse_docstring, type_schema


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Address:
    """A postal address."""

    city: str
    zip_code: str = "000"


@attrs.define
class Order:
    item: str
    address: Address
    quantity: int = 1


class Movie(TypedDict):
    title: str
    year: int


class PartialMovie(TypedDict, total=False):
    title: str


UserId = NewType("UserId", int)


@attrs.define
class Node:
    children: list["Node"]


TYPES = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    (type(None), {"type": "null"}),
    (Any, {}),
    (Literal["c", "f"], {"type": "string", "enum": ["c", "f"]}),
    (Literal[1, "a", None], {"type": ["integer", "string", "null"], "enum": [1, "a", None]}),  # noqa: PYI061
    (Color, {"type": "string", "enum": ["red", "green"]}),
    (Level, {"type": "integer", "enum": [1, 2]}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (list, {"type": "array"}),
    (Sequence[str], {"type": "array", "items": {"type": "string"}}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (
        tuple[int, str],
        {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "minItems": 2,
            "maxItems": 2,
        },
    ),
    (set[str], {"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
    (frozenset[int], {"type": "array", "uniqueItems": True, "items": {"type": "integer"}}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (Mapping[str, Any], {"type": "object", "additionalProperties": {}}),
    (dict, {"type": "object"}),
    (Optional[int], {"type": ["integer", "null"]}),  # noqa: UP045 - the old spelling on purpose
    (int | str, {"type": ["integer", "string"]}),
    (
        Union[int, list[str]],  # noqa: UP007 - the old spelling on purpose
        {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
    ),
    (Annotated[str, "A city"], {"type": "string", "description": "A city"}),
    (
        Annotated[int, {"minimum": 1}, "Days"],
        {"type": "integer", "minimum": 1, "description": "Days"},
    ),
    (UserId, {"type": "integer"}),
    (
        Address,
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip_code": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
            "description": "A postal address.",
        },
    ),
    (
        Order,
        {
            "type": "object",
            "properties": {
                "item": {"type": "string"},
                "address": type_schema(Address),
                "quantity": {"type": "integer"},
            },
            "required": ["item", "address"],
            "additionalProperties": False,
        },
    ),
    (
        Movie,
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
            "required": ["title", "year"],
            "additionalProperties": False,
        },
    ),
    (
        PartialMovie,
        {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "additionalProperties": False,
        },
    ),
]


@pytest.mark.parametrize(("annotation", "expected"), TYPES, ids=[repr(t[0]) for t in TYPES])
def test_type_schemas(annotation, expected):
    schema = type_schema(annotation)
    assert schema == expected
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (complex, "the type complex cannot be sent as JSON Schema; use one of: str, int"),
        (dict[int, str], "JSON object keys are strings; use dict[str, ...]"),
        (Literal[b"x"], "Literal and Enum values must be str, int, float, bool or None"),
        (Node, "Node refers to itself; recursive types are not supported"),
    ],
)
def test_unsupported_types_are_refused(annotation, text):
    with pytest.raises(SchemaError, match=text.replace("(", r"\(").replace("[", r"\[")):
        type_schema(annotation, where="f(x)")


def test_strict_objects_require_everything_and_allow_null_for_optional():
    assert type_schema(Address, strict=True) == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "zip_code": {"type": ["string", "null"]},
        },
        "required": ["city", "zip_code"],
        "additionalProperties": False,
        "description": "A postal address.",
    }
    with pytest.raises(SchemaError, match="strict tools cannot take free-form objects"):
        type_schema(dict[str, int], strict=True)


# ------------------------------------------------------------------ functions


async def get_weather(
    location: Annotated[str, "The city"],
    unit: Literal["c", "f"] = "c",
    days: int = 1,
    color: Color = Color.RED,
    note: str | None = None,
) -> str:
    """Get the current weather.

    It reads a public feed.

    Args:
        location: Ignored: Annotated wins.
        unit (str): The unit,
            c or f.
        days: How many days.

    Returns:
        The weather.

    Raises:
        ValueError: never.
    """
    return ""


def test_a_function_schema():
    result = function_schema(get_weather)
    assert result.description == "Get the current weather.\n\nIt reads a public feed."
    assert result.parameters == {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city"},
            "unit": {
                "type": "string",
                "enum": ["c", "f"],
                "description": "The unit, c or f.",
                "default": "c",
            },
            "days": {"type": "integer", "description": "How many days.", "default": 1},
            "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
            "note": {"type": ["string", "null"]},
        },
        "required": ["location"],
        "additionalProperties": False,
    }
    jsonschema.Draft202012Validator.check_schema(result.parameters)
    assert [(p.name, p.required) for p in result.params] == [
        ("location", True),
        ("unit", False),
        ("days", False),
        ("color", False),
        ("note", False),
    ]


def test_a_strict_function_schema():
    result = function_schema(get_weather, strict=True)
    properties = result.parameters["properties"]
    assert result.parameters["required"] == ["location", "unit", "days", "color", "note"]
    assert properties["days"] == {"type": ["integer", "null"], "description": "How many days."}
    assert properties["note"] == {"type": ["string", "null"]}
    assert [p.name for p in result.params if p.null_means_default] == ["unit", "days", "color"]
    jsonschema.Draft202012Validator.check_schema(result.parameters)


def test_a_strict_none_parameter_with_a_default_stays_a_valid_schema():
    # Found by test_tool_fuzz: strict mode made it nullable again, {"type": ["null", "null"]}.
    def f(p0: None = None) -> None: ...

    result = function_schema(f, strict=True)
    assert result.parameters["properties"]["p0"] == {"type": "null"}
    jsonschema.Draft202012Validator.check_schema(result.parameters)


def test_injected_parameters_are_left_out_anywhere():
    class Context:
        pass

    def f(ctx: Context, a: int, other: Context) -> None: ...

    result = function_schema(f, is_injected=lambda hint: hint is Context)
    assert result.parameters["properties"] == {"a": {"type": "integer"}}
    assert [p.name for p in result.params if p.injected] == ["ctx", "other"]


def test_converters_are_asked_for_each_parameter():
    def f(a: int, b: Color) -> None: ...

    result = function_schema(f, make_converter=lambda hint: None if hint is int else str)
    assert [p.convert for p in result.params] == [None, str]


def test_no_parameters():
    def ping() -> str:
        return "pong"

    assert function_schema(ping).parameters == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_an_unannotated_parameter_is_refused():
    def f(x, y: int = 2):
        return x

    with pytest.raises(SchemaError) as info:
        function_schema(f)
    assert str(info.value) == (
        "f(x): the parameter has no type annotation; annotate it (e.g. x: str), "
        "or x: Any to accept any JSON value"
    )


def test_an_explicit_any_is_still_any():
    def f(x: Any, y: Any = 2):
        return x

    assert function_schema(f).parameters["properties"] == {"x": {}, "y": {"default": 2}}


@attrs.define
class Dangling:
    when: "NoSuchType"  # type: ignore[name-defined]  # noqa: F821


class DanglingMovie(TypedDict):
    when: "NoSuchType"  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize("cls", [Dangling, DanglingMovie])
def test_an_unresolvable_forward_reference_in_a_class_names_the_parameter(cls):
    def f(a: int, b: cls) -> None: ...

    with pytest.raises(SchemaError, match=r"f\(b\): cannot resolve the type hints of "):
        function_schema(f)


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("def f(*args: int) -> None: ...", r"f\(args\): \*args and \*\*kwargs cannot be described"),
        ("def f(**kw: int) -> None: ...", r"f\(kw\): \*args and \*\*kwargs cannot be described"),
        ("def f(a: int, /) -> None: ...", r"f\(a\): positional-only parameters"),
        ("def f(when: complex) -> None: ...", r"f\(when\): the type complex cannot be sent"),
        (
            "def f(a: int, b: 'Missing') -> None: ...",
            (
                r"f\(b\): cannot resolve the type hint 'Missing' "
                r"\(name 'Missing' is not defined\); import it where the function is defined"
            ),
        ),
    ],
)
def test_bad_signatures_name_the_parameter(source, text):
    namespace = {}
    exec(source, namespace)  # noqa: S102 - test input
    with pytest.raises(SchemaError, match=text):
        function_schema(namespace["f"])


# ------------------------------------------------------------------ docstrings


def test_docstring_sections_and_continuations():
    doc = """Summary line
    that wraps.

    Second paragraph.

    Args:
        alpha: First.
        beta (int): Second,
            continued here.
        *rest: Extra ones.

    Returns:
        alpha: not a parameter (Returns section).
    """
    description, arguments = parse_docstring(doc)
    assert description == "Summary line that wraps.\n\nSecond paragraph."
    assert arguments == {
        "alpha": "First.",
        "beta": "Second, continued here.",
        "rest": "Extra ones.",
    }


def test_no_docstring():
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("Only a summary.") == ("Only a summary.", {})
