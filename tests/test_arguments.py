"""Validated JSON to annotated types: a table of (type, JSON value, expected Python value)."""

import enum
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, Union

import attrs
import pytest

from pathors_async._arguments import converter_for


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1


@attrs.frozen
class Point:
    x: float
    y: Annotated[int, {"minimum": 0}] = 0
    label: str = "p"


@attrs.frozen
class Aliased:
    _secret: int = attrs.field(alias="secret")


class Movie(TypedDict):
    title: str
    year: int
    rating: Annotated[float, {"maximum": 10}]


class Plain(TypedDict):
    title: str


Meters = NewType("Meters", float)


@pytest.mark.parametrize(
    "annotation",
    [str, bool, None, type(None), Any, object, list[str], dict[str, str], Plain, Literal["a", 1]],
)
def test_json_values_that_already_fit_need_no_conversion(annotation):
    assert converter_for(annotation) is None


CASES = [
    (int, 3.0, 3),
    (int, 4, 4),
    (float, 3, 3.0),
    (Annotated[float, {"minimum": 0}], 2, 2.0),
    (Color, "green", Color.GREEN),
    (Level, 1.0, Level.LOW),
    (Literal[Color.RED, "other"], "red", Color.RED),
    (Literal[Color.RED, "other"], "other", "other"),
    (list[int], [1.0, 2], [1, 2]),
    (Sequence[float], [1], [1.0]),
    (tuple, [1, "a"], (1, "a")),
    (tuple[int, ...], [1.0], (1,)),
    (tuple[int, str], [2.0, "x"], (2, "x")),
    (set[str], ["a", "b"], {"a", "b"}),
    (frozenset[int], [1.0], frozenset({1})),
    (set, [1], {1}),
    (dict[str, int], {"a": 1.0}, {"a": 1}),
    (Mapping[str, Color], {"a": "red"}, {"a": Color.RED}),
    (Point, {"x": 1, "y": 2.0}, Point(x=1.0, y=2)),
    (Aliased, {"secret": 5.0}, Aliased(secret=5)),
    (
        Movie,
        {"title": "Up", "year": 2009.0, "rating": 8},
        {"title": "Up", "year": 2009, "rating": 8.0},
    ),
    (Meters, 3, 3.0),
    (Optional[Point], None, None),  # noqa: UP045 - the old spelling on purpose
    (Optional[Point], {"x": 0}, Point(x=0.0)),  # noqa: UP045
    (Union[int, str], 3.0, 3),  # noqa: UP007 - the old spelling on purpose
    (Union[int, str], "3", "3"),  # noqa: UP007
    (Color | list[Color], ["red"], [Color.RED]),
    (Annotated[list[Annotated[float, {"minimum": 0}]], {"minItems": 1}], [1, 2], [1.0, 2.0]),
]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"), CASES, ids=[repr(c[0]) for c in CASES]
)
def test_values_are_converted_to_the_annotated_type(annotation, value, expected):
    convert = converter_for(annotation)
    assert convert is not None
    converted = convert(value)
    assert converted == expected
    assert type(converted) is type(expected)


def test_nested_ints_are_ints_not_floats():
    converted = converter_for(list[Point])([{"x": 1, "y": 3.0}])
    assert type(converted[0].y) is int
    assert type(converted[0].x) is float
