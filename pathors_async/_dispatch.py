"""The steps of a tool call, and the texts the model reads when one fails.

Each step raises `Failed` with the `ToolFailure` kind and the exact message the
model will get; `ToolRegistry.dispatch` turns it into a ``tool`` message and
`ToolRegistry.call` into a `ToolError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._models import ToolFailure

if TYPE_CHECKING:
    from concurrent.futures import Executor

    import jsonschema.exceptions

__all__ = ["Failed", "describe_errors", "invoke", "parse_arguments", "unknown_tool"]

logger: Final = logging.getLogger("pathors_async")

#: Most schema problems listed in one message.
MAX_PROBLEMS: Final = 10
_JSON_TYPES: Final = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class Failed(Exception):  # noqa: N818 - a step's outcome, caught inside the registry
    """A tool call failed; `message` is what the model will read."""

    def __init__(self, failure: ToolFailure, message: str, *, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.errors = errors


def unknown_tool(name: str, available: list[str]) -> Failed:
    """The failure for a call to a tool that is not registered."""
    closest = difflib.get_close_matches(name, available, n=1)
    hint = f" Did you mean {closest[0]!r}?" if closest else ""
    listed = ", ".join(available) if available else "none"
    return Failed(
        ToolFailure.UNKNOWN_TOOL,
        f"There is no tool named {name!r}.{hint} Available tools: {listed}.",
    )


def parse_arguments(
    name: str, arguments: str | Mapping[str, Any] | None, limit: int
) -> dict[str, Any]:
    """Parse a tool call's arguments text (or take a mapping as is).

    An empty text counts as ``{}`` (some models send it for tools without parameters).

    Raises:
        Failed: Too large, not JSON, or not a JSON object.
    """
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    # A character is at most 4 UTF-8 bytes: count exactly only when it could matter.
    if len(arguments) * 4 > limit and (size := len(arguments.encode())) > limit:
        raise Failed(
            ToolFailure.TOO_LARGE,
            f"The arguments for tool {name!r} are {size:,} bytes, over the limit of "
            f"{limit:,} bytes. Send shorter arguments.",
        )
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        near = arguments[max(0, exc.pos - 20) : exc.pos + 20]
        raise Failed(
            ToolFailure.INVALID_JSON,
            f"The arguments for tool {name!r} are not valid JSON: {exc.msg} at line "
            f"{exc.lineno}, column {exc.colno} (near {near!r}). Send a JSON object that "
            "matches the tool's parameters.",
        ) from None
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), type(value).__name__)
        raise Failed(
            ToolFailure.INVALID_JSON,
            f"The arguments for tool {name!r} must be a JSON object, not {kind}.",
        )
    return value


def describe_errors(errors: Iterable[jsonschema.exceptions.ValidationError]) -> tuple[str, ...]:
    """List schema problems as ``$.path: what was wrong`` lines, in path order."""
    ordered = sorted(errors, key=lambda error: (list(map(str, error.absolute_path)), error.message))
    lines = [f"{error.json_path}: {error.message}" for error in ordered[:MAX_PROBLEMS]]
    if len(ordered) > MAX_PROBLEMS:
        lines.append(f"… and {len(ordered) - MAX_PROBLEMS} more")
    return tuple(lines)


async def invoke(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    name: str,
    is_async: bool,
    timeout: float | None,
    executor: Callable[[], Executor],
) -> Any:  # noqa: ANN401 - whatever the tool returns
    """Run the tool: await it, or run it on a worker thread; enforce the timeout.

    Raises:
        Failed: It raised (the traceback is logged) or ran out of time.
        asyncio.CancelledError: The caller was cancelled (an async tool is
            cancelled with it).
    """
    try:
        if is_async:
            if timeout is None:
                return await function(**kwargs)
            return await _async_with_timeout(function(**kwargs), name, timeout)
        return await _in_thread(function, kwargs, name=name, timeout=timeout, executor=executor())
    except Failed:
        raise
    except Exception as exc:
        logger.exception("tool %r raised %s", name, type(exc).__name__)
        said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise Failed(ToolFailure.EXCEPTION, f"The tool {name!r} failed: {said}") from exc


async def _async_with_timeout(coroutine: Any, name: str, timeout: float) -> Any:  # noqa: ANN401
    task = asyncio.ensure_future(coroutine)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task})  # let it run its cleanup
        raise Failed(
            ToolFailure.TIMEOUT,
            f"The tool {name!r} did not finish within {timeout:g} s and was stopped.",
        )
    return task.result()


async def _in_thread(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    name: str,
    timeout: float | None,
    executor: Executor,
) -> Any:  # noqa: ANN401
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(context.run, function, **kwargs)
    )
    if timeout is None:
        return await future
    try:
        done, _ = await asyncio.wait({future}, timeout=timeout)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()  # stops it only if it has not started; a thread cannot be stopped
        raise Failed(
            ToolFailure.TIMEOUT,
            f"The tool {name!r} did not finish within {timeout:g} s. It may still be "
            "running, but its result will not be sent.",
        )
    return future.result()
