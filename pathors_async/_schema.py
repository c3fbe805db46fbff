"""Signature + Google-style docstring -> JSON Schema, for tools (pure; no I/O).

`function_schema` reads a function's parameters and type hints and returns the
JSON Schema of its arguments, the tool description, and for each parameter what
dispatch needs (required or not, its default, how to turn the validated JSON
value into the annotated type). Unsupported parameters fail here, at
registration, naming the parameter.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, MutableSequence, Sequence
from typing import Any, Final, Literal, Union

import attrs

from ._docstrings import parse_docstring

__all__ = ["FunctionSchema", "Parameter", "function_schema", "parse_docstring", "type_schema"]

_PRIMITIVES: Final[dict[Any, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_SEQUENCES: Final = (list, Sequence, MutableSequence)
_SETS: Final = (set, frozenset, typing.AbstractSet, typing.MutableSet)
_MAPPINGS: Final = (dict, Mapping, typing.MutableMapping)
_SUPPORTED: Final = (
    "str, int, float, bool, None, Any, Literal, Enum, list/tuple/set/dict[str, T], "
    "Optional/Union, attrs classes, TypedDict and Annotated[T, 'description']"
)


class SchemaError(TypeError):
    """A parameter or type that cannot be described as JSON Schema."""


@attrs.frozen(kw_only=True)
class Parameter:
    """What dispatch needs to know about one parameter.

    Attributes:
        name: The parameter's name.
        annotation: Its type hint (Any when it has none).
        injected: True for a `ToolContext` parameter, filled by dispatch, not the model.
        required: Whether the model must give it.
        default: The default value (`inspect.Parameter.empty` if none).
        convert: Turns the validated JSON value into the annotated type, or None
            when the JSON value already is one (str, int, lists of them…).
        null_means_default: In strict mode, a null sent for an optional parameter
            means "use the default".
    """

    name: str
    annotation: Any
    injected: bool = False
    required: bool = True
    default: Any = inspect.Parameter.empty
    convert: Callable[[Any], Any] | None = None
    null_means_default: bool = False


@attrs.frozen(kw_only=True)
class FunctionSchema:
    """The JSON Schema and dispatch plan of a function.

    Attributes:
        description: The tool description from the docstring (before any section).
        parameters: The JSON Schema of the arguments object.
        params: One `Parameter` per function parameter, in order.
    """

    description: str
    parameters: dict[str, Any]
    params: tuple[Parameter, ...]


def _json_type(value: object) -> str | None:
    for python_type, json_type in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (type(None), "null"),
    ):
        if isinstance(value, python_type):
            return json_type
    return None


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    kinds = [_json_type(value) for value in values]
    if None in kinds:
        raise SchemaError(f"{where}: Literal and Enum values must be str, int, float, bool or None")
    distinct = sorted(set(kinds), key=kinds.index)
    return {"type": distinct[0] if len(distinct) == 1 else distinct, "enum": values}


class _Builder:
    """Builds schemas for one function, tracking classes being expanded (no recursion)."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self._expanding: list[type] = []

    def schema(self, annotation: Any, where: str) -> dict[str, Any]:  # noqa: ANN401, PLR0911, PLR0912
        """Return the JSON Schema of `annotation`; `where` names it in errors."""
        if annotation is Any or annotation is object:
            return {}
        if annotation is None:
            return {"type": "null"}
        if isinstance(annotation, type) and annotation in _PRIMITIVES:  # (Annotated is unhashable)
            return {"type": _PRIMITIVES[annotation]}
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if origin is typing.Annotated:
            schema = dict(self.schema(arguments[0], where))
            for extra in arguments[1:]:
                if isinstance(extra, str):
                    schema["description"] = extra
                elif isinstance(extra, Mapping):
                    schema.update(extra)
            return schema
        if origin is Literal:
            return _enum_schema(list(arguments), where)
        if origin is Union or origin is types.UnionType:
            return self._union(arguments, where)
        if origin is None and isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return _enum_schema([member.value for member in annotation], where)
        if origin in _SEQUENCES or annotation in (list, Sequence):
            items = self.schema(arguments[0], f"{where}[]") if arguments else {}
            return {"type": "array", "items": items} if arguments else {"type": "array"}
        if origin is tuple or annotation is tuple:
            return self._tuple(arguments, where)
        if origin in _SETS or annotation in (set, frozenset):
            schema = {"type": "array", "uniqueItems": True}
            if arguments:
                schema["items"] = self.schema(arguments[0], f"{where}[]")
            return schema
        if origin in _MAPPINGS or annotation is dict:
            return self._mapping(arguments, where)
        if origin is None and isinstance(annotation, type) and attrs.has(annotation):
            return self._attrs_class(annotation, where)
        if typing.is_typeddict(annotation):
            return self._typed_dict(annotation, where)
        supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.schema(supertype, where)
        raise SchemaError(
            f"{where}: the type {_type_name(annotation)} cannot be sent as JSON Schema; "
            f"use one of: {_SUPPORTED}"
        )

    def _union(self, members: tuple[Any, ...], where: str) -> dict[str, Any]:
        schemas = [self.schema(member, where) for member in members]
        if all(set(schema) == {"type"} and isinstance(schema["type"], str) for schema in schemas):
            return {"type": [schema["type"] for schema in schemas]}
        return {"anyOf": schemas}

    def _tuple(self, arguments: tuple[Any, ...], where: str) -> dict[str, Any]:
        if not arguments:
            return {"type": "array"}
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return {"type": "array", "items": self.schema(arguments[0], f"{where}[]")}
        return {
            "type": "array",
            "prefixItems": [self.schema(item, f"{where}[{i}]") for i, item in enumerate(arguments)],
            "minItems": len(arguments),
            "maxItems": len(arguments),
        }

    def _mapping(self, arguments: tuple[Any, ...], where: str) -> dict[str, Any]:
        if self.strict:
            raise SchemaError(
                f"{where}: strict tools cannot take free-form objects (dict); "
                "use an attrs class or a TypedDict, or strict=False"
            )
        if not arguments:
            return {"type": "object"}
        if arguments[0] is not str:
            raise SchemaError(f"{where}: JSON object keys are strings; use dict[str, ...]")
        return {"type": "object", "additionalProperties": self.schema(arguments[1], f"{where}{{}}")}

    def _object(self, cls: type, fields: list[tuple[str, Any, bool]], where: str) -> dict[str, Any]:
        if cls in self._expanding:
            raise SchemaError(
                f"{where}: {cls.__name__} refers to itself; recursive types are not supported"
            )
        self._expanding.append(cls)
        try:
            properties = {name: self.schema(hint, f"{where}.{name}") for name, hint, _ in fields}
        finally:
            self._expanding.pop()
        required = [name for name, _, needed in fields if needed or self.strict]
        if self.strict:
            for name, _, needed in fields:
                if not needed:
                    properties[name] = _nullable(properties[name])
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        description, _ = parse_docstring(cls.__doc__ if _own_doc(cls) else None)
        if description:
            schema["description"] = description
        return schema

    def _attrs_class(self, cls: type, where: str) -> dict[str, Any]:
        hints = _class_hints(cls, where)
        fields = [
            (
                field.alias or field.name,
                hints.get(field.name, Any),
                field.default is attrs.NOTHING,
            )
            for field in attrs.fields(cls)
            if field.init
        ]
        return self._object(cls, fields, where)

    def _typed_dict(self, cls: type, where: str) -> dict[str, Any]:
        hints = _class_hints(cls, where)
        required_keys = getattr(cls, "__required_keys__", frozenset(hints))
        fields = [(name, hint, name in required_keys) for name, hint in hints.items()]
        return self._object(cls, fields, where)


def _own_doc(cls: type) -> bool:
    """Whether the class has a docstring of its own (not attrs' or dict's default)."""
    doc = cls.__dict__.get("__doc__")
    return bool(doc) and not doc.startswith(f"{cls.__name__}(")  # type: ignore[union-attr]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if kind == "null":  # already nullable: ["null", "null"] is not a valid schema
        return schema
    if isinstance(kind, str) and set(schema) <= {"type", "description"}:
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list) and set(schema) <= {"type", "description"}:
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _type_name(annotation: Any) -> str:  # noqa: ANN401
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def type_schema(annotation: Any, *, strict: bool = False, where: str = "value") -> dict[str, Any]:  # noqa: ANN401
    """Return the JSON Schema of one type.

    Args:
        annotation: The type hint.
        strict: Produce the OpenAI strict form for objects.
        where: How to name it in errors.

    Returns:
        The schema.

    Raises:
        SchemaError: The type is not supported.
    """
    return _Builder(strict=strict).schema(annotation, where)


def _accepts_none(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema == {}:
        return True
    return any(_accepts_none(option) for option in schema.get("anyOf", ()))


def function_schema(
    function: Callable[..., Any],
    *,
    strict: bool = False,
    is_injected: Callable[[Any], bool] = lambda _: False,
    make_converter: Callable[[Any], Callable[[Any], Any] | None] = lambda _: None,
) -> FunctionSchema:
    """Describe a function's arguments as JSON Schema.

    Args:
        function: The function (sync or async).
        strict: Produce the OpenAI strict form: ``additionalProperties: false``
            everywhere and every property required (optional ones nullable).
        is_injected: Says whether an annotation is the injected context type.
        make_converter: Returns a converter from JSON value to an annotation, or
            None when no conversion is needed.

    Returns:
        The description, the schema and the per-parameter plan.

    Raises:
        SchemaError: A ``*args``/``**kwargs`` parameter, a positional-only one,
            one without an annotation, an annotation that cannot be resolved, or an
            unsupported type; the message names the parameter.
    """
    name = getattr(function, "__name__", type(function).__name__)
    signature = inspect.signature(function)
    hints = _type_hints(function, name, signature)
    description, documented = parse_docstring(inspect.getdoc(function))
    builder = _Builder(strict=strict)
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[Parameter] = []
    for parameter in signature.parameters.values():
        where = f"{name}({parameter.name})"
        _check_parameter(parameter, where, hints)
        annotation = hints[parameter.name]
        if is_injected(annotation):
            params.append(Parameter(name=parameter.name, annotation=annotation, injected=True))
            continue
        schema = builder.schema(annotation, where)
        if parameter.name in documented and "description" not in schema:
            schema = {**schema, "description": documented[parameter.name]}
        optional = parameter.default is not parameter.empty
        if optional and _json_default(parameter.default) is not None:
            schema = {**schema, "default": _json_default(parameter.default)}
        null_means_default = False
        if optional and strict:
            null_means_default = not _accepts_none(schema)
            schema = {k: v for k, v in schema.items() if k != "default"}
            schema = _nullable(schema)
        properties[parameter.name] = schema
        if not optional or strict:
            required.append(parameter.name)
        params.append(
            Parameter(
                name=parameter.name,
                annotation=annotation,
                required=not optional,
                default=parameter.default,
                convert=make_converter(annotation),
                null_means_default=null_means_default,
            )
        )
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    return FunctionSchema(description=description, parameters=parameters, params=tuple(params))


def _check_parameter(parameter: inspect.Parameter, where: str, hints: dict[str, Any]) -> None:
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        raise SchemaError(
            f"{where}: *args and **kwargs cannot be described to the model; name each parameter"
        )
    if parameter.kind is parameter.POSITIONAL_ONLY:
        raise SchemaError(f"{where}: positional-only parameters cannot be passed by name")
    if parameter.name not in hints:
        raise SchemaError(
            f"{where}: the parameter has no type annotation; annotate it (e.g. "
            f"{parameter.name}: str), or {parameter.name}: Any to accept any JSON value"
        )


def _type_hints(
    function: Callable[..., Any], name: str, signature: inspect.Signature
) -> dict[str, Any]:
    """The function's resolved type hints; an unresolvable one names its parameter."""
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - NameError, TypeError, SyntaxError… from eval
        failure = exc
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    for parameter in signature.parameters.values():
        hint = parameter.annotation
        if isinstance(hint, str):
            try:
                eval(hint, namespace)  # noqa: S307 - what get_type_hints does with a hint
            except Exception as exc:
                raise SchemaError(
                    f"{name}({parameter.name}): cannot resolve the type hint {hint!r} ({exc}); "
                    "import it where the function is defined"
                ) from exc
    raise SchemaError(f"{name}: cannot read its type hints ({failure})") from failure


def _class_hints(cls: type, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise SchemaError(
            f"{where}: cannot resolve the type hints of {cls.__qualname__} ({exc}); "
            "import the names they use where the class is defined"
        ) from exc


def _json_default(value: object) -> Any:  # noqa: ANN401
    """The default as JSON (Enum members by value), or None when it is None or not JSON."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value
