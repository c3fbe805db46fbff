"""Tools: `Tool`, `ToolContext` and the `tool` decorator.

A `Tool` holds a function, its JSON Schema and a jsonschema validator built once,
at registration; `Tool.bind` validates a call's parsed arguments and builds the
keyword arguments. `ToolRegistry` (in `_registry`) runs the calls.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any, Final, Generic, ParamSpec, Protocol, TypeVar, overload

import attrs
import jsonschema

from ._arguments import converter_for
from ._dispatch import Failed, describe_errors, exception_message
from ._fastcheck import fast_check
from ._models import ToolCall, ToolFailure
from ._schema import Parameter, SchemaError, function_schema
from ._untrusted import clean_text

__all__ = ["Tool", "ToolContext", "ToolDecorator", "check_timeout", "render", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
P2 = ParamSpec("P2")
R2 = TypeVar("R2")
DepsT = TypeVar("DepsT")

_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@attrs.frozen(kw_only=True)
class ToolContext(Generic[DepsT]):
    """What a tool may know about the call it serves; injected, never sent to the model.

    Annotate a parameter with `ToolContext` (or ``ToolContext[MyDeps]``), in any
    position, and dispatch fills it in; it is left out of the tool's schema.

    Attributes:
        session_id: The conversation's session id, if known.
        tool_call: The tool call being answered (its id, name and raw arguments).
        deps: Whatever the caller passed as dependencies (a database handle, the
            user's account…), None when nothing was passed. Typed as ``Deps`` for
            ``ToolContext[Deps]``, so ``ctx.deps["user"]`` type-checks.
    """

    session_id: str | None = None
    tool_call: ToolCall | None = None
    deps: DepsT = None  # type: ignore[assignment] # None when not given; typed as DepsT for tools


def _is_context(annotation: Any) -> bool:  # noqa: ANN401
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is ToolContext or typing.get_origin(annotation) is ToolContext


def _json_default(value: object) -> Any:  # noqa: ANN401
    """`json.dumps` fallback: attrs instances through the converter, enums and sets plainly."""
    if attrs.has(type(value)):  # one level: json.dumps calls back for what is inside
        return attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def render(value: object) -> str:
    """Turn a tool's return value into message content: a str as is, else JSON.

    Lone surrogates become U+FFFD, so the content can always be sent.

    Raises:
        TypeError: The value cannot be written as JSON.
    """
    if isinstance(value, str):
        return clean_text(value)
    return clean_text(json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default))


class Tool(Generic[P, R]):
    """A function the model may call, with its JSON Schema and a validator built once.

    Calling the `Tool` calls the function itself, so the decorated function keeps
    working (and keeps its signature for type checkers).

    Attributes:
        name: The name the model calls it by.
        description: What it does, for the model.
        parameters: The JSON Schema of its arguments.
        timeout: Seconds it may run per call (None: the registry's default).
        strict: Whether its schema is in OpenAI's strict form.
    """

    __slots__ = (
        "__wrapped__",
        "_fast",
        "_injects",
        "_is_async",
        "_params",
        "_plain",
        "_raw",
        "_validator",
        "description",
        "name",
        "parameters",
        "strict",
        "timeout",
    )

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        params: tuple[Parameter, ...],
        raw: bool = False,
        timeout: float | None = None,
        strict: bool = False,
    ) -> None:
        _check_name(name)
        check_timeout(timeout, f"tool {name!r}")
        self.__wrapped__ = function
        self.name = name
        self.description = description
        self.parameters = parameters
        self.timeout = timeout
        self.strict = strict
        self._validator = _validator(name, parameters)
        self._fast = fast_check(parameters)
        self._params = params
        self._raw = raw
        self._injects = any(p.injected for p in params)
        self._plain = all(
            not p.injected and p.convert is None and not p.null_means_default for p in params
        )
        self._is_async = _is_async(function)

    @classmethod
    def from_function(
        cls,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        strict: bool = False,
    ) -> Tool[P, R]:
        """Make a tool from a function: schema from its signature and docstring.

        Args:
            function: A sync or async function with type hints.
            name: The tool name (default: the function's name).
            description: The description (default: the docstring's text before its sections).
            timeout: Seconds each call may take (default: the registry's).
            strict: Produce OpenAI's strict schema form.

        Returns:
            The tool.

        Raises:
            TypeError: A parameter cannot be described (``*args``, an unsupported type…).
            ValueError: The name is not allowed, or the timeout is not positive.
        """
        try:
            schema = function_schema(
                function, strict=strict, is_injected=_is_context, make_converter=converter_for
            )
        except SchemaError as exc:
            raise TypeError(f"cannot make a tool of {_function_name(function)}: {exc}") from None
        return cls(
            function,
            name=name or _function_name(function),
            description=description if description is not None else schema.description,
            parameters=schema.parameters,
            params=schema.params,
            timeout=timeout,
            strict=strict,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: dict[str, Any],
        handler: Callable[..., Any],
        *,
        timeout: float | None = None,
    ) -> Tool[..., Any]:
        """Make a tool from a hand-written JSON Schema.

        The handler is called with the validated arguments as keyword arguments
        (JSON values, unconverted), plus any `ToolContext` parameter it declares.

        Args:
            name: The tool name.
            description: What it does, for the model.
            parameters: The JSON Schema of the arguments (an object schema).
            handler: A sync or async callable.
            timeout: Seconds each call may take (default: the registry's).

        Returns:
            The tool.

        Raises:
            ValueError: The name is not allowed or the schema is invalid.
        """
        try:
            hints = typing.get_type_hints(handler)
        except (NameError, TypeError):
            hints = {}
        injected = tuple(
            Parameter(name=param, annotation=hint, injected=True)
            for param, hint in hints.items()
            if _is_context(hint)
        )
        return Tool(
            handler,
            name=name,
            description=description,
            parameters=parameters,
            params=injected,
            raw=True,
            timeout=timeout,
        )

    @property
    def definition(self) -> dict[str, Any]:
        """The ``{"type": "function", "function": {...}}`` definition sent with requests."""
        function: dict[str, Any] = {"name": self.name, "description": self.description}
        function["parameters"] = self.parameters
        if self.strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    @property
    def function(self) -> Callable[P, R]:
        """The wrapped function."""
        return self.__wrapped__

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function (run on the loop, not a thread)."""
        return self._is_async

    @property
    def takes_context(self) -> bool:
        """Whether the function takes a `ToolContext` (injected, not sent by the model)."""
        return self._injects

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, function={_function_name(self.__wrapped__)})"

    # ------------------------------------------------------------ dispatch steps

    def bind(self, arguments: dict[str, Any], context: ToolContext[Any] | None) -> dict[str, Any]:
        """Validate parsed arguments and build the keyword arguments of the call.

        Raises:
            Failed: The arguments do not fit the schema.
        """
        validator = self._validator
        fast = self._fast
        if (fast is None or not fast(arguments)) and not validator.is_valid(arguments):
            problems = describe_errors(validator.iter_errors(arguments))
            raise Failed(
                ToolFailure.INVALID_ARGUMENTS,
                f"Invalid arguments for tool {self.name!r}:\n"
                + "\n".join(f"- {problem}" for problem in problems)
                + "\nFix them and call the tool again.",
                errors=problems,
            )
        if self._plain:
            return arguments
        if self._raw:  # a hand-written schema: the arguments as sent, plus the context
            return {**arguments, **{param.name: context for param in self._params}}
        kwargs: dict[str, Any] = {}
        for param in self._params:
            if param.injected:
                kwargs[param.name] = context
            elif param.name in arguments:
                value = arguments[param.name]
                if value is None and param.null_means_default:
                    continue
                kwargs[param.name] = value if param.convert is None else self._convert(param, value)
        return kwargs

    def _convert(self, param: Parameter, value: Any) -> Any:  # noqa: ANN401
        """Convert a validated value; an attrs validator or enum lookup may still refuse it."""
        assert param.convert is not None  # noqa: S101 - checked by the caller
        try:
            return param.convert(value)
        except Exception as exc:
            problem = f"$.{param.name}: {exception_message(exc)}"
            raise Failed(
                ToolFailure.INVALID_ARGUMENTS,
                f"Invalid arguments for tool {self.name!r}:\n- {problem}\n"
                "Fix them and call the tool again.",
                errors=(problem,),
            ) from exc


def _function_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", None) or type(function).__name__


def _is_async(function: Callable[..., Any]) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an async __call__ counts
    )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"tool name {name!r} is not allowed: use 1 to 64 letters, digits, '_' or '-'"
        )


def check_timeout(timeout: object, what: str) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"the timeout of {what} must be a positive number of seconds or None")


def _validator(name: str, parameters: object) -> jsonschema.protocols.Validator:
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise ValueError(
            f"the parameters of tool {name!r} must be a JSON Schema object: "
            '{"type": "object", "properties": {...}}'
        )
    validator_class = jsonschema.validators.validator_for(
        parameters, default=jsonschema.Draft202012Validator
    )
    try:
        validator_class.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.path)) or "(root)"
        raise ValueError(
            f"the schema of tool {name!r} is invalid at {where}: {exc.message}"
        ) from None
    return validator_class(parameters)


class ToolDecorator(Protocol):
    """What ``tool(name=...)`` returns: a decorator that makes a `Tool`."""

    def __call__(self, function: Callable[P, R], /) -> Tool[P, R]:
        """Make the tool."""
        ...


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    strict: bool = False,
) -> ToolDecorator: ...
def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    strict: bool = False,
) -> Tool[P, R] | ToolDecorator:
    """Make a `Tool` of a function (no registry); use bare or with options.

    Args:
        function: The function, when used bare (``@tool``).
        name: The tool name (default: the function's name).
        description: The description (default: from the docstring).
        timeout: Seconds each call may take.
        strict: Produce OpenAI's strict schema form.

    Returns:
        The tool, or a decorator that makes one.
    """

    def make(target: Callable[P2, R2]) -> Tool[P2, R2]:
        return Tool.from_function(
            target, name=name, description=description, timeout=timeout, strict=strict
        )

    return make if function is None else make(function)
