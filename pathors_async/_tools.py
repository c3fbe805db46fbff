"""Tools: `Tool`, `ToolContext`, `ToolRegistry` and the `tool` decorator.

The model's tool calls are untrusted input. `ToolRegistry.dispatch` parses and
validates every call (with a jsonschema validator built once per tool) before
any user code runs, and turns every failure into a ``tool`` message the model
can read and act on; `ToolRegistry.call` is the strict path that raises instead.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import json
import re
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, Generic, ParamSpec, Protocol, TypeVar, overload

import attrs
import jsonschema

from ._converter import converter, unstructure
from ._dispatch import Failed, describe_errors, invoke, parse_arguments, unknown_tool
from ._errors import ToolArgumentsError, ToolError, ToolExecutionError, ToolNotFoundError
from ._models import FunctionCall, ToolCall, ToolFailure, ToolResult
from ._schema import Parameter, SchemaError, function_schema

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["Tool", "ToolContext", "ToolRegistry", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
P2 = ParamSpec("P2")
R2 = TypeVar("R2")
DepsT = TypeVar("DepsT")

#: Most worker threads a registry runs sync tools on, by default.
DEFAULT_MAX_THREADS: Final = 8
#: Largest arguments text a registry accepts by default, in bytes.
MAX_ARGUMENT_BYTES: Final = 1024 * 1024

_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_UNIONS: Final = (typing.Union, types.UnionType)
_LISTS: Final = (list, Sequence, Iterable)
_DICTS: Final = (dict, Mapping)
_ERRORS: Final[dict[ToolFailure, type[ToolError]]] = {
    ToolFailure.UNKNOWN_TOOL: ToolNotFoundError,
    ToolFailure.TOO_LARGE: ToolArgumentsError,
    ToolFailure.INVALID_JSON: ToolArgumentsError,
    ToolFailure.INVALID_ARGUMENTS: ToolArgumentsError,
}


@attrs.frozen(kw_only=True)
class ToolContext(Generic[DepsT]):
    """What a tool may know about the call it serves; injected, never sent to the model.

    Annotate a parameter with `ToolContext` (or ``ToolContext[MyDeps]``), in any
    position, and dispatch fills it in; it is left out of the tool's schema.

    Attributes:
        session_id: The conversation's session id, if known.
        tool_call: The tool call being answered (its id, name and raw arguments).
        deps: Whatever the caller passed as dependencies (a database handle, the
            user's account…).
    """

    session_id: str | None = None
    tool_call: ToolCall | None = None
    deps: DepsT | None = None


def _is_context(annotation: Any) -> bool:  # noqa: ANN401
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is ToolContext or typing.get_origin(annotation) is ToolContext


def _native(annotation: Any) -> bool:  # noqa: ANN401, PLR0911
    """Whether a validated JSON value already is of this type (no conversion needed)."""
    if annotation is None or annotation is Any or annotation is object:
        return True
    if isinstance(annotation, type) and annotation in (str, int, bool, type(None), list, dict):
        return True
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _native(arguments[0])
    if origin is typing.Literal:
        return not any(isinstance(value, enum.Enum) for value in arguments)
    if origin in _UNIONS or origin in _LISTS or origin in _DICTS:
        return all(_native(member) for member in arguments)
    if typing.is_typeddict(annotation):
        return all(_native(hint) for hint in typing.get_type_hints(annotation).values())
    return False


def _converter_for(annotation: Any) -> Callable[[Any], Any] | None:  # noqa: ANN401
    """How to turn a validated JSON value into `annotation` (None: it already is one)."""
    if _native(annotation):
        return None
    if annotation is float:
        return float
    return functools.partial(converter.structure, cl=annotation)


def _json_default(value: object) -> Any:  # noqa: ANN401
    """`json.dumps` fallback: attrs instances through the converter, enums and sets plainly."""
    if attrs.has(type(value)):
        return unstructure(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def render(value: object) -> str:
    """Turn a tool's return value into message content: a str as is, else JSON.

    Raises:
        TypeError: The value cannot be written as JSON.
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


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
        _check_timeout(timeout, f"tool {name!r}")
        self.__wrapped__ = function
        self.name = name
        self.description = description
        self.parameters = parameters
        self.timeout = timeout
        self.strict = strict
        self._validator = _validator(name, parameters)
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
                function, strict=strict, is_injected=_is_context, make_converter=_converter_for
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
        if not validator.is_valid(arguments):
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
                kwargs[param.name] = value if param.convert is None else param.convert(value)
        return kwargs


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


def _check_positive(option: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive int, got {value!r}")


def _check_timeout(timeout: object, what: str) -> None:
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


class ToolRegistry:
    """A set of tools, and the dispatcher that runs the model's calls to them.

    Args:
        tools: Tools (or plain functions) to register now.
        max_threads: Worker threads for sync tools (a bounded pool, started on
            first use and shut down by `close` or the client's `aclose`).
        timeout: Default seconds per call for tools without their own (None: no limit).
        max_argument_bytes: Longest arguments text accepted, in bytes.
        max_concurrency: Default limit of calls run at once by `dispatch_all`.

    Raises:
        ValueError: Two tools share a name, or an option is out of range.
    """

    def __init__(
        self,
        tools: Iterable[Tool[Any, Any] | Callable[..., Any]] = (),
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
        timeout: float | None = None,
        max_argument_bytes: int = MAX_ARGUMENT_BYTES,
        max_concurrency: int | None = None,
    ) -> None:
        _check_positive("max_threads", max_threads)
        _check_positive("max_argument_bytes", max_argument_bytes)
        if max_concurrency is not None:
            _check_positive("max_concurrency", max_concurrency)
        _check_timeout(timeout, "the registry")
        self.max_threads = max_threads
        self.timeout = timeout
        self.max_argument_bytes = max_argument_bytes
        self.max_concurrency = max_concurrency
        self._tools: dict[str, Tool[Any, Any]] = {}
        self._definitions: list[dict[str, Any]] | None = None
        self._executor: ThreadPoolExecutor | None = None
        for item in tools:
            self.add(item)

    # ------------------------------------------------------------ registration

    def add(self, item: Tool[P, R] | Callable[P, R]) -> Tool[P, R]:
        """Register a tool (a plain function is made into one).

        Returns:
            The registered tool.

        Raises:
            ValueError: A tool with that name is already registered.
        """
        made = item if isinstance(item, Tool) else Tool.from_function(item)
        if made.name in self._tools:
            raise ValueError(
                f"a tool named {made.name!r} is already registered; "
                "pass name=... to tell them apart"
            )
        self._tools[made.name] = made
        self._definitions = None
        return made

    @overload
    def tool(self, function: Callable[P, R], /) -> Tool[P, R]: ...
    @overload
    def tool(
        self,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        strict: bool = False,
    ) -> ToolDecorator: ...
    def tool(
        self,
        function: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        strict: bool = False,
    ) -> Tool[P, R] | ToolDecorator:
        """Register a function as a tool; use bare (``@tools.tool``) or with options.

        Args:
            function: The function, when used bare.
            name: The tool name (default: the function's name).
            description: The description (default: from the docstring).
            timeout: Seconds each call may take (default: the registry's).
            strict: Produce OpenAI's strict schema form.

        Returns:
            The registered tool (callable like the function), or a decorator.
        """

        def register(target: Callable[P2, R2]) -> Tool[P2, R2]:
            return self.add(
                Tool.from_function(
                    target, name=name, description=description, timeout=timeout, strict=strict
                )
            )

        return register if function is None else register(function)

    def get(self, name: str) -> Tool[Any, Any] | None:
        """Return the tool called `name`, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """The registered tool names, in registration order."""
        return list(self._tools)

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """The tool definitions to send with a request (``tools=``)."""
        if self._definitions is None:
            self._definitions = [made.definition for made in self._tools.values()]
        return list(self._definitions)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter(self._tools.values())

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names!r})"

    # ------------------------------------------------------------ dispatch

    async def dispatch(
        self, tool_call: ToolCall, context: ToolContext[Any] | None = None
    ) -> ToolResult:
        """Run one tool call and answer it with a ``tool`` message; never raises for model errors.

        Unknown tools, oversized or invalid JSON, schema violations, exceptions
        and timeouts all become a `ToolResult` whose content tells the model
        what went wrong and whose `failure` says which kind it was.

        Args:
            tool_call: The call, as the model sent it.
            context: Session id and deps for tools that take a `ToolContext`
                (its `tool_call` is set to this call).

        Returns:
            The ``tool`` message answering the call.
        """
        started = time.perf_counter()
        name = tool_call.function.name
        value: Any = None
        failure: ToolFailure | None = None
        try:
            value = await self._run(name, tool_call.function.arguments, tool_call, context)
            content = render(value)
        except Failed as failed:
            failure, content, value = failed.failure, failed.message, None
        except (TypeError, ValueError) as exc:  # the value could not be written as JSON
            failure = ToolFailure.EXCEPTION
            content = f"The tool {name!r} returned a value that cannot be sent as JSON: {exc}"
            value = None
        return ToolResult(
            role="tool",
            tool_call_id=tool_call.id,
            name=name,
            content=content,
            failure=failure,
            duration=time.perf_counter() - started,
            value=value,
        )

    async def dispatch_all(
        self,
        tool_calls: Iterable[ToolCall],
        context: ToolContext[Any] | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> list[ToolResult]:
        """Run a batch of tool calls concurrently; the answers come in the calls' order.

        Args:
            tool_calls: The calls of one assistant message.
            context: As for `dispatch`.
            max_concurrency: Most calls running at once (default: the registry's; None: all).

        Returns:
            One ``tool`` message per call, in order.
        """
        calls = list(tool_calls)
        limit = max_concurrency or self.max_concurrency
        if len(calls) == 1:
            return [await self.dispatch(calls[0], context)]
        if limit is None or limit >= len(calls):
            return list(await asyncio.gather(*(self.dispatch(call, context) for call in calls)))
        semaphore = asyncio.Semaphore(limit)

        async def limited(call: ToolCall) -> ToolResult:
            async with semaphore:
                return await self.dispatch(call, context)

        return list(await asyncio.gather(*(limited(call) for call in calls)))

    async def call(
        self,
        name: str,
        arguments: str | Mapping[str, Any] | None = None,
        *,
        context: ToolContext[Any] | None = None,
    ) -> Any:  # noqa: ANN401 - whatever the tool returns
        """Call a tool by name, strictly: return its value or raise.

        Args:
            name: The tool's name.
            arguments: A JSON text or a mapping of arguments.
            context: As for `dispatch`.

        Returns:
            What the tool returned.

        Raises:
            ToolNotFoundError: No tool has that name.
            ToolArgumentsError: The arguments are too large, not JSON, or invalid
                (``.errors`` lists each problem).
            ToolExecutionError: The tool raised (the ``__cause__``) or timed out.
        """
        call = ToolCall(
            id="direct",
            function=FunctionCall(
                name=name, arguments=arguments if isinstance(arguments, str) else "{}"
            ),
        )
        try:
            return await self._run(name, arguments, call, context)
        except Failed as failed:
            error = _ERRORS.get(failed.failure, ToolExecutionError)
            raise error(
                failed.message, tool_name=name, failure=failed.failure, errors=failed.errors
            ) from failed.__cause__

    async def _run(
        self,
        name: str,
        arguments: str | Mapping[str, Any] | None,
        tool_call: ToolCall,
        context: ToolContext[Any] | None,
    ) -> Any:  # noqa: ANN401
        made = self._tools.get(name)
        if made is None:
            raise unknown_tool(name, self.names)
        parsed = parse_arguments(name, arguments, self.max_argument_bytes)
        if made._injects:  # noqa: SLF001
            context = (
                ToolContext(tool_call=tool_call)
                if context is None
                else attrs.evolve(context, tool_call=tool_call)
            )
        kwargs = made.bind(parsed, context)
        return await invoke(
            made.__wrapped__,
            kwargs,
            name=name,
            is_async=made._is_async,  # noqa: SLF001
            timeout=made.timeout if made.timeout is not None else self.timeout,
            executor=self._pool,
        )

    # ------------------------------------------------------------ life cycle

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_threads, thread_name_prefix="pathors-tool"
            )
        return self._executor

    def close(self) -> None:
        """Shut the worker threads down (a later sync call starts them again)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Shut the worker threads down (an awaitable alias of `close`)."""
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
