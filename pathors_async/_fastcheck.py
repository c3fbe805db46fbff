"""A fast acceptance check for flat argument schemas, in front of jsonschema (pure).

Most tools take a few scalars: an object whose properties are typed strings,
numbers, booleans, nulls, arrays or objects, maybe with an ``enum``. For such a
schema `fast_check` builds a plain function that says whether arguments are
valid, with jsonschema's (Draft 2020-12) meaning of each keyword; anything else
gives None and jsonschema checks alone. A "no" from the fast check is always
confirmed by jsonschema, which also writes the problems the model reads; a
"yes" skips jsonschema, so the two must agree on every value, which
``tests/test_fastcheck.py`` checks against jsonschema itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["fast_check"]

Check = Callable[[Any], bool]

#: Keywords that never change what is valid.
_ANNOTATIONS: Final = frozenset({"description", "title", "default", "examples"})
_SCALARS: Final = (str, int, float, bool, type(None))


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: Final[dict[str, Check]] = {
    "string": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def fast_check(schema: object) -> Check | None:
    """A function telling whether parsed arguments fit `schema`, or None if it is not flat.

    Args:
        schema: A tool's parameters schema.

    Returns:
        The check (for a dict of arguments), or None when the schema uses more
        than ``type``/``properties``/``required``/``additionalProperties`` at
        the top and ``type``/``enum`` in each property.
    """
    if not isinstance(schema, dict) or set(schema) - _ANNOTATIONS - {
        "type",
        "properties",
        "required",
        "additionalProperties",
    }:
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    additional = schema.get("additionalProperties", True)
    if (
        schema.get("type") != "object"
        or not isinstance(properties, dict)
        or not isinstance(required, list)
        or not all(isinstance(key, str) for key in required)
        or not isinstance(additional, bool)
    ):
        return None
    checks = {name: _property(sub) for name, sub in properties.items()}
    if any(check is None for check in checks.values()):
        return None
    return _object_check(checks, tuple(required), closed=not additional)  # type: ignore[arg-type]


def _object_check(checks: dict[str, Check], required: tuple[str, ...], *, closed: bool) -> Check:
    def check(arguments: dict[str, Any]) -> bool:
        for key in required:
            if key not in arguments:
                return False
        for key, value in arguments.items():
            fits = checks.get(key)
            if fits is None:
                if closed:
                    return False
            elif not fits(value):
                return False
        return True

    return check


def _property(schema: object) -> Check | None:
    if not isinstance(schema, dict) or set(schema) - _ANNOTATIONS - {"type", "enum"}:
        return None
    kinds, enum = schema.get("type"), schema.get("enum")
    type_check: Check | None = None
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(names, list) or not names or any(name not in _TYPES for name in names):
            return None
        type_checks = [_TYPES[name] for name in names]
        type_check = type_checks[0] if len(type_checks) == 1 else _any_of(type_checks)
    if enum is None:
        return type_check or (lambda _: True)
    if not isinstance(enum, list) or not all(type(item) in _SCALARS for item in enum):
        return None
    enum_check = _enum_check(enum)
    if type_check is None:
        return enum_check
    return lambda value: type_check(value) and enum_check(value)


def _any_of(checks: list[Check]) -> Check:
    return lambda value: any(fits(value) for fits in checks)


def _enum_check(members: list[Any]) -> Check:
    """Enum membership as jsonschema sees it: booleans equal only booleans, ``1 == 1.0``."""
    booleans = [item for item in members if isinstance(item, bool)]
    texts = frozenset(item for item in members if isinstance(item, str))
    others = [item for item in members if not isinstance(item, (bool, str))]

    def check(value: object) -> bool:
        if isinstance(value, str):
            return value in texts
        if isinstance(value, bool):
            return any(value is item for item in booleans)
        if isinstance(value, (list, dict)):
            return False
        return any(value == item for item in others)

    return check
