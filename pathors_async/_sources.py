"""Tool sources: where tools come from, how a batch of calls runs, and merging sources.

`ToolSource` is the seam: something that lists tool definitions, answers a tool
call with a `ToolResult` (never raising for what the model or the tool did), and
can be closed. `ToolRegistry` is one; an MCP or HTTP client can be another.
`combine_sources` merges several into one (names unique across them), and
`dispatch_as_completed` runs one answer's calls concurrently on any source,
yielding each answer as it finishes, with `ToolCallBatch.cancel` to answer the
rest synchronously when the consumer stops early.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from ._dispatch import Failed, cancelled_result, exception_text, failed_result, unknown_tool
from ._models import ToolCall, ToolFailure, ToolResult
from ._untrusted import clean_text

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._tools import ToolContext

__all__ = [
    "CombinedSource",
    "ToolCallBatch",
    "ToolSource",
    "combine_sources",
    "dispatch_as_completed",
]

logger: Final = logging.getLogger("pathors_async")


@runtime_checkable
class ToolSource(Protocol):
    """Where an agent's tools come from: list them, call them, close them.

    `ToolRegistry` is one. Write your own (an MCP client, tools behind HTTP…)
    with these three methods; `dispatch` must answer every call with a
    `ToolResult` (use ``failure=`` to say what went wrong) rather than raise.
    A source that also has a ``names`` list (as `ToolRegistry` does) is checked
    for duplicate names as soon as it is combined with others.
    """

    async def tool_definitions(self) -> list[dict[str, Any]]:
        """The ``{"type": "function", "function": {...}}`` definitions to send."""
        ...

    async def dispatch(
        self, tool_call: ToolCall, context: ToolContext[Any] | None = None
    ) -> ToolResult:
        """Answer one tool call with a ``tool`` message; never raise for model or tool errors."""
        ...

    async def aclose(self) -> None:
        """Release what the source holds (threads, connections)."""
        ...


class ToolCallBatch:
    """One answer's tool calls, running concurrently on a source.

    Iterate it for ``(index, result)`` pairs as the calls finish (index: the
    call's position in `tool_calls`). Leaving the ``async with`` block cancels
    what still runs and waits for it to end. If the consumer stops early (an
    error, ``break``, cancellation), call `cancel` *before any await*: it
    answers every call not yet reported, synchronously, so a transcript never
    holds an unanswered call.

    Args:
        source: Where the calls go.
        tool_calls: The calls.
        context: Passed to each `ToolSource.dispatch`.
        max_concurrency: Most calls running at once (None: all).

    Raises:
        ValueError: `max_concurrency` is not a positive int or None.
    """

    def __init__(
        self,
        source: ToolSource,
        tool_calls: Iterable[ToolCall],
        context: ToolContext[Any] | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> None:
        limit: object = max_concurrency
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive int or None, got {max_concurrency!r}"
            )
        self.tool_calls: tuple[ToolCall, ...] = tuple(tool_calls)
        self._source = source
        self._context = context
        self._limit = max_concurrency or len(self.tool_calls) or 1
        self._tasks: list[asyncio.Task[ToolResult]] = []
        self._running = 0
        self._finished: collections.deque[int] = collections.deque()
        self._reported = [False] * len(self.tool_calls)
        self._unreported = len(self.tool_calls)
        self._wakeup: asyncio.Future[None] | None = None
        self._stopped = False

    @property
    def pending(self) -> list[tuple[int, ToolCall]]:
        """The calls not yet reported, with their indexes, in order."""
        return [
            (index, call) for index, call in enumerate(self.tool_calls) if not self._reported[index]
        ]

    def _start(self) -> None:
        """Start calls until `max_concurrency` run at once."""
        while len(self._tasks) < len(self.tool_calls) and self._running < self._limit:
            index = len(self._tasks)
            task = asyncio.ensure_future(
                self._source.dispatch(self.tool_calls[index], self._context)
            )
            task.add_done_callback(functools.partial(self._on_done, index))
            self._tasks.append(task)
            self._running += 1

    def _on_done(self, index: int, _: object) -> None:
        self._running -= 1
        self._finished.append(index)
        if not self._stopped:
            self._start()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[int, ToolResult]:
        if not self._stopped:
            self._start()
        while True:
            while self._finished:
                index = self._finished.popleft()
                if not self._reported[index]:
                    return index, self._take(index)
            if self._stopped or not self._unreported:
                raise StopAsyncIteration
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup

    def _take(self, index: int) -> ToolResult:
        """The answer of a finished call (a source that raised gets an EXCEPTION answer)."""
        self._report(index)
        task, call = self._tasks[index], self.tool_calls[index]
        if task.cancelled():
            return cancelled_result(call)
        exception = task.exception()
        if exception is None:
            return task.result()
        name = clean_text(call.function.name)
        logger.error(
            "tool source %r raised %s", self._source, type(exception).__name__, exc_info=exception
        )
        said = exception_text(exception)
        return failed_result(
            call, Failed(ToolFailure.EXCEPTION, f"The tool {name!r} failed: {said}")
        )

    def _report(self, index: int) -> None:
        self._reported[index] = True
        self._unreported -= 1

    def cancel(self) -> list[tuple[int, ToolResult]]:
        """Stop now and answer every call not yet reported; synchronous, call it before any await.

        Returns:
            ``(index, result)`` for each call not reported before: its answer if
            it has finished, else a CANCELLED one. Calls still running are
            cancelled, calls not started never start. Idempotent.
        """
        self._stopped = True
        answers = []
        for index, call in enumerate(self.tool_calls):
            if self._reported[index]:
                continue
            task = self._tasks[index] if index < len(self._tasks) else None
            if task is not None and task.done():
                answers.append((index, self._take(index)))
                continue
            if task is not None:
                task.cancel()
                task.add_done_callback(_retrieve)
            self._report(index)
            answers.append((index, cancelled_result(call)))
        return answers

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """`cancel`, then wait for the calls still running to end."""
        self.cancel()
        running = [task for task in self._tasks if not task.done()]
        if running:
            await asyncio.wait(running)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def dispatch_as_completed(
    source: ToolSource,
    tool_calls: Iterable[ToolCall],
    context: ToolContext[Any] | None = None,
    *,
    max_concurrency: int | None = None,
) -> ToolCallBatch:
    """Run tool calls concurrently on any source; iterate the batch for answers as they finish.

    Args:
        source: Where the calls go (a `ToolRegistry`, a combined source…).
        tool_calls: The calls of one assistant message.
        context: Passed to each `ToolSource.dispatch`.
        max_concurrency: Most calls running at once (None: all).

    Returns:
        The batch; use it as ``async with`` and ``async for index, result in batch``.
    """
    return ToolCallBatch(source, tool_calls, context, max_concurrency=max_concurrency)


class CombinedSource:
    """Several tool sources as one; tool names must be unique across them.

    Calls go to the source whose definitions listed the name, as of the last
    `tool_definitions`. `aclose` closes every source.

    Args:
        sources: The sources, in the order their definitions are listed.

    Raises:
        ValueError: Two sources with a ``names`` list share a name.
    """

    def __init__(self, sources: Sequence[ToolSource]) -> None:
        self.sources = tuple(sources)
        self._owners: dict[str, ToolSource] | None = None
        known: dict[str, ToolSource] = {}
        for source in self.sources:
            names = getattr(source, "names", None)
            if isinstance(names, list):
                for name in names:
                    _claim(known, name, source)

    async def tool_definitions(self) -> list[dict[str, Any]]:
        """Every source's definitions, in order.

        Raises:
            ValueError: Two sources define the same name.
            TypeError: A definition has no name.
        """
        owners: dict[str, ToolSource] = {}
        definitions = []
        for source in self.sources:
            for definition in await source.tool_definitions():
                item: object = definition
                function = item.get("function") if isinstance(item, dict) else None
                name = function.get("name") if isinstance(function, dict) else None
                if not isinstance(name, str):
                    raise TypeError(
                        f"the tool source {source!r} gave a definition without a name: "
                        f"{definition!r}; each must look like "
                        '{"type": "function", "function": {"name": ..., ...}}'
                    )
                _claim(owners, name, source)
                definitions.append(definition)
        self._owners = owners
        return definitions

    async def dispatch(
        self, tool_call: ToolCall, context: ToolContext[Any] | None = None
    ) -> ToolResult:
        """Send the call to the source that owns its name; an unknown name is answered here."""
        if self._owners is None:
            await self.tool_definitions()
        assert self._owners is not None  # noqa: S101 - set just above
        source = self._owners.get(tool_call.function.name)
        if source is None:
            return failed_result(
                tool_call, unknown_tool(tool_call.function.name, list(self._owners))
            )
        return await source.dispatch(tool_call, context)

    async def aclose(self) -> None:
        """Close every source (all of them, even when one raises; then the first error)."""
        errors = []
        for source in self.sources:
            try:
                await source.aclose()
            except Exception as exc:  # noqa: BLE001, PERF203 - the others still get closed
                errors.append(exc)
        if errors:
            raise errors[0]

    def __repr__(self) -> str:
        return f"CombinedSource({list(self.sources)!r})"


def _claim(owners: dict[str, ToolSource], name: str, source: ToolSource) -> None:
    other = owners.setdefault(name, source)
    if other is not source:
        raise ValueError(
            f"two tool sources define a tool named {name!r}: {other!r} and {source!r}; "
            "tool names must be unique across sources: rename one (name=...) or leave it out"
        )


def combine_sources(tools: ToolSource | Iterable[ToolSource] | object) -> ToolSource:
    """One source from a source or a list of sources.

    Args:
        tools: A `ToolSource` (returned as is) or a list of them (one is
            returned as is; several are merged into a `CombinedSource`).

    Returns:
        The source.

    Raises:
        TypeError: An item is not a tool source (a plain function: put it in a
            `ToolRegistry`).
        ValueError: Two sources define the same tool name.
    """
    if isinstance(tools, ToolSource):
        return tools
    if isinstance(tools, (str, bytes, dict)) or not isinstance(tools, Iterable):
        raise TypeError(_not_a_source("tools", tools))
    sources = list(tools)
    for position, source in enumerate(sources):
        if not isinstance(source, ToolSource):
            raise TypeError(_not_a_source(f"tools[{position}]", source))
    return sources[0] if len(sources) == 1 else CombinedSource(sources)


def _not_a_source(where: str, value: object) -> str:
    if callable(value) and not isinstance(value, type):
        name = getattr(value, "__name__", "function")
        return (
            f"{where} is a function, not a tool source: put functions in a registry, "
            f"e.g. ToolRegistry([{name}])"
        )
    return (
        f"{where} must be a ToolSource (a ToolRegistry, or an object with tool_definitions, "
        f"dispatch and aclose), not {type(value).__name__}"
    )
