"""Validated JSON -> the annotated Python types of a tool's parameters (pure; no I/O).

`converter_for` walks a type hint once, at registration, and returns a function
that turns an already validated JSON value into that type, or None when the JSON
value already is one (``str``, ``list[str]``…). Handlers are looked up by the
hint's origin, like the schema generator's. `Annotated` metadata is skipped at
every level, so ``Annotated[float, {"minimum": 0}]`` converts as ``float`` in a
parameter, in a container and in an attrs field. An integral float given for an
``int`` (``3.0``) becomes an ``int``; the validator has refused any other float.
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Final

import attrs
import jsonschema

from ._schema import type_schema

__all__ = ["Convert", "converter_for"]

Convert = Callable[[Any], Any]

_PLAIN: Final = (str, bool, type(None))
_LISTS: Final = (
    list,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Iterable,
)
_SETS: Final = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
_DICTS: Final = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def converter_for(annotation: Any) -> Convert | None:  # noqa: ANN401, PLR0911, PLR0912
    """How to turn a validated JSON value into `annotation` (None: it already is one).

    Args:
        annotation: A type hint the schema generator accepted.

    Returns:
        A one-argument function, or None when no conversion is needed.
    """
    if annotation is None or annotation is Any or annotation is object:
        return None
    if annotation is int:
        return _to_int
    if annotation is float:
        return float
    if isinstance(annotation, type) and annotation in _PLAIN:
        return None
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return converter_for(arguments[0])
    if origin is typing.Literal:
        return _literal(arguments)
    if origin is typing.Union or origin is types.UnionType:
        return _union(arguments)
    if origin is tuple or annotation is tuple:
        return _tuple(arguments)
    if origin in _LISTS:
        return _each(list, converter_for(arguments[0])) if arguments else None
    if origin in _SETS or annotation in (set, frozenset):
        kind = frozenset if frozenset in (origin, annotation) else set
        return _each(kind, converter_for(arguments[0]) if arguments else None, always=True)
    if origin in _DICTS:
        return _values(converter_for(arguments[1])) if arguments else None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    if isinstance(annotation, type) and attrs.has(annotation):
        return _attrs_class(annotation)
    if typing.is_typeddict(annotation):
        return _typed_dict(annotation)
    supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
    return None if supertype is None else converter_for(supertype)


def _to_int(value: Any) -> Any:  # noqa: ANN401
    return int(value) if type(value) is float else value


def _literal(values: tuple[Any, ...]) -> Convert | None:
    members = {value.value: value for value in values if isinstance(value, enum.Enum)}
    if not members:
        return None
    return lambda value: members.get(value, value)


def _union(members: tuple[Any, ...]) -> Convert | None:
    converts = [converter_for(member) for member in members]
    if all(convert is None for convert in converts):
        return None
    # The first member whose schema accepts the value decides how it is converted.
    plan = [
        (jsonschema.Draft202012Validator(type_schema(member)), convert)
        for member, convert in zip(members, converts, strict=True)
    ]

    def convert_union(value: Any) -> Any:  # noqa: ANN401
        for validator, convert in plan:
            if validator.is_valid(value):
                return value if convert is None else convert(value)
        return value  # pragma: no cover - the value was validated against the union

    return convert_union


def _tuple(arguments: tuple[Any, ...]) -> Convert:
    if not arguments or (len(arguments) == 2 and arguments[1] is Ellipsis):
        return _each(tuple, converter_for(arguments[0]) if arguments else None) or tuple
    converts = [converter_for(item) for item in arguments]
    return lambda value: tuple(
        item if convert is None else convert(item)
        for item, convert in zip(value, converts, strict=True)
    )


def _each(
    kind: Callable[[Any], Any], convert: Convert | None, *, always: bool = False
) -> Convert | None:
    if convert is None:
        return kind if always else None
    return lambda value: kind(convert(item) for item in value)


def _values(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda value: {key: convert(item) for key, item in value.items()}


def _fields(hints: dict[str, Any], names: list[tuple[str, str]]) -> list[tuple[str, str, Convert]]:
    plan = []
    for key, attribute in names:
        convert = converter_for(hints.get(attribute, Any))
        if convert is not None:
            plan.append((key, attribute, convert))
    return plan


def _attrs_class(cls: type) -> Convert:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = [field for field in attrs.fields(cls) if field.init]
    names = [(field.alias or field.name, field.name) for field in fields]
    plan = _fields(hints, names)

    def convert_attrs(value: dict[str, Any]) -> Any:  # noqa: ANN401
        arguments = dict(value)
        for key, _, convert in plan:
            if key in arguments:
                arguments[key] = convert(arguments[key])
        return cls(**arguments)

    return convert_attrs


def _typed_dict(cls: type) -> Convert | None:
    hints = typing.get_type_hints(cls, include_extras=True)
    plan = _fields(hints, [(name, name) for name in hints])
    if not plan:
        return None

    def convert_typed_dict(value: dict[str, Any]) -> dict[str, Any]:
        converted = dict(value)
        for key, _, convert in plan:
            if key in converted:
                converted[key] = convert(converted[key])
        return converted

    return convert_typed_dict
