"""`ToolRegistry`: a set of tools, and the dispatcher that runs the model's calls.

The model's tool calls are untrusted input. `ToolRegistry.dispatch` parses and
validates every call before any user code runs, and turns every failure into a
``tool`` message the model can read and act on; `ToolRegistry.call` is the strict
path that raises instead. Sync tools run on a bounded thread pool the registry owns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, overload

import attrs

from ._dispatch import Failed, exception_message, failed_result, parse_arguments, unknown_tool
from ._errors import ToolArgumentsError, ToolError, ToolExecutionError, ToolNotFoundError
from ._invoke import Running, invoke
from ._models import FunctionCall, ToolCall, ToolFailure, ToolResult
from ._sources import ToolCallBatch, dispatch_as_completed
from ._tools import Tool, ToolContext, ToolDecorator, check_timeout, render, tool
from ._workers import WorkerPool

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["ToolRegistry"]

P = ParamSpec("P")
R = TypeVar("R")
P2 = ParamSpec("P2")
R2 = TypeVar("R2")

#: Most worker threads a registry runs sync tools on, by default.
DEFAULT_MAX_THREADS: Final = 8
#: Largest arguments text a registry accepts by default, in bytes.
MAX_ARGUMENT_BYTES: Final = 1024 * 1024

_ERRORS: Final[dict[ToolFailure, type[ToolError]]] = {
    ToolFailure.UNKNOWN_TOOL: ToolNotFoundError,
    ToolFailure.TOO_LARGE: ToolArgumentsError,
    ToolFailure.INVALID_JSON: ToolArgumentsError,
    ToolFailure.INVALID_ARGUMENTS: ToolArgumentsError,
}


def _check_positive(option: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive int, got {value!r}")


class ToolRegistry:
    """A set of tools, and the dispatcher that runs the model's calls to them.

    Args:
        tools: Tools (or plain functions) to register now.
        max_threads: Worker threads for sync tools (a bounded pool of daemon
            threads, started on first use and stopped by `close`/`aclose`).
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
        check_timeout(timeout, "the registry")
        self.max_threads = max_threads
        self.timeout = timeout
        self.max_argument_bytes = max_argument_bytes
        self.max_concurrency = max_concurrency
        self._tools: dict[str, Tool[Any, Any]] = {}
        self._definitions: list[dict[str, Any]] | None = None
        self._pool: WorkerPool | None = None
        self._running: set[Running] = set()
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
        make = tool(name=name, description=description, timeout=timeout, strict=strict)

        def register(target: Callable[P2, R2]) -> Tool[P2, R2]:
            return self.add(make(target))

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
        try:
            value = await self._run(name, tool_call.function.arguments, tool_call, context)
        except Failed as failed:
            return failed_result(tool_call, failed, duration=time.perf_counter() - started)
        try:
            content = render(value)
        except Exception as exc:  # noqa: BLE001 - the value could not be written as JSON
            not_json = Failed(
                ToolFailure.EXCEPTION,
                f"The tool {name!r} returned a value that cannot be sent as JSON: "
                f"{exception_message(exc)}",
            )
            return failed_result(tool_call, not_json, duration=time.perf_counter() - started)
        return ToolResult(
            role="tool",
            tool_call_id=tool_call.id,
            name=name,
            content=content,
            failure=None,
            duration=time.perf_counter() - started,
            value=value,
        )

    def dispatch_as_completed(
        self,
        tool_calls: Iterable[ToolCall],
        context: ToolContext[Any] | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> ToolCallBatch:
        """Run a batch of tool calls concurrently; iterate for answers as they finish.

        ``async with tools.dispatch_as_completed(calls) as batch:`` then
        ``async for index, result in batch:``; `ToolCallBatch.cancel` answers the
        calls not yet reported when you stop early.

        Args:
            tool_calls: The calls of one assistant message.
            context: As for `dispatch`.
            max_concurrency: Most calls running at once (default: the registry's; None: all).

        Returns:
            The batch.
        """
        return dispatch_as_completed(
            self, tool_calls, context, max_concurrency=max_concurrency or self.max_concurrency
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
        if len(calls) == 1:
            return [await self.dispatch(calls[0], context)]
        async with self.dispatch_as_completed(
            calls, context, max_concurrency=max_concurrency
        ) as batch:
            answers = dict([answer async for answer in batch])
        return [answers[index] for index in range(len(calls))]

    async def tool_definitions(self) -> list[dict[str, Any]]:
        """The tool definitions (`definitions`), as the `ToolSource` protocol asks."""
        return self.definitions

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
        if made.takes_context:
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
            is_async=made.is_async,
            timeout=made.timeout if made.timeout is not None else self.timeout,
            pool=self._workers,
            running=self._running,
        )

    # ------------------------------------------------------------ life cycle

    def _workers(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.max_threads)
        return self._pool

    def close(self) -> None:
        """Answer the calls in flight CANCELLED and stop the worker threads.

        Never cancels a caller: each waiting `dispatch` returns a `ToolResult`
        (failure ``CANCELLED``) and `call` raises `ToolExecutionError`. Async tools
        are cancelled; a sync tool already running cannot be stopped, so its thread
        ends when the tool returns (it is a daemon: it never keeps the process
        alive). The registry stays usable: a later sync call starts new threads.
        """
        for running in list(self._running):
            running.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    async def aclose(self) -> None:
        """Answer the calls in flight CANCELLED and stop the worker threads (see `close`)."""
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
