"""The steps of a tool call, and the texts the model reads when one fails.

Each step raises `Failed` with the `ToolFailure` kind and the exact message the
model will get; `ToolRegistry.dispatch` turns it into a ``tool`` message and
`ToolRegistry.call` into a `ToolError`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._models import ToolCall, ToolFailure, ToolResult
from ._untrusted import clean_json, clean_text

if TYPE_CHECKING:
    import jsonschema.exceptions

__all__ = [
    "CANCELLED_TEXT",
    "Failed",
    "cancelled_result",
    "describe_errors",
    "exception_message",
    "exception_text",
    "failed_result",
    "parse_arguments",
    "unknown_tool",
]

#: Most schema problems listed in one message.
MAX_PROBLEMS: Final = 10
#: Deepest nesting of objects and arrays accepted in arguments.
MAX_DEPTH: Final = 64
_MAX_DIGITS: Final[int] = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
_ESCAPED_SURROGATE: Final = re.compile(r"\\u[dD][89a-fA-F]")
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
    The text is untrusted: NaN and infinities, duplicate keys, numbers of more
    digits than Python converts and nesting past `MAX_DEPTH` levels are refused;
    lone surrogates (unpaired UTF-16 halves) become U+FFFD, so the text can always be sent on.

    Raises:
        Failed: Too large, not JSON, or not a JSON object.
    """
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    # A character is at most 4 UTF-8 bytes: count exactly only when it could matter.
    if len(arguments) * 4 > limit and (size := len(arguments.encode(errors="replace"))) > limit:
        raise Failed(
            ToolFailure.TOO_LARGE,
            f"The arguments for tool {name!r} are {size:,} bytes, over the limit of "
            f"{limit:,} bytes. Send shorter arguments.",
        )
    if not arguments.strip():
        return {}
    value = _decode(name, arguments)
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), type(value).__name__)
        raise Failed(
            ToolFailure.INVALID_JSON,
            f"The arguments for tool {name!r} must be a JSON object, not {kind}.",
        )
    # Each level opens a bracket: with few brackets, the depth cannot be too much.
    if arguments.count("{") + arguments.count("[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _too_deep(name)
    if _may_have_surrogates(arguments):
        cleaned: dict[str, Any] = clean_json(value)
        return cleaned
    return value


class _RefusedError(ValueError):
    """A JSON text refused by one of the decoder's hooks; the message says why."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    for key, _ in pairs:  # pragma: no branch - a duplicate is there
        if key in seen:
            raise _RefusedError(
                f"the key {clean_text(key)!r} appears twice in one object. Send each key once."
            )
        seen.add(key)
    return value  # pragma: no cover - unreachable


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _RefusedError(f"{text} is not a finite number. Send numbers as plain decimals.")
    return value


def _not_a_number(text: str) -> float:
    raise _RefusedError(f"{text} is not a finite number. Send numbers as plain decimals.")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_not_a_number
)


def _decode(name: str, arguments: str) -> Any:  # noqa: ANN401 - JSON is Any by nature
    try:
        return _DECODER.decode(arguments)
    except _RefusedError as exc:
        said = str(exc)
    except json.JSONDecodeError as exc:
        near = arguments[max(0, exc.pos - 20) : exc.pos + 20]
        said = (
            f"{exc.msg} at line {exc.lineno}, column {exc.colno} (near {near!r}). Send a JSON "
            "object that matches the tool's parameters."
        )
    except ValueError:  # the only other one: an integer past Python's digit limit
        said = f"a number has more than {_MAX_DIGITS:,} digits. Send shorter numbers."
    except RecursionError:
        raise _too_deep(name) from None
    raise Failed(
        ToolFailure.INVALID_JSON,
        clean_text(f"The arguments for tool {name!r} are not valid JSON: {said}"),
    )


def _too_deep(name: str) -> Failed:
    return Failed(
        ToolFailure.INVALID_JSON,
        f"The arguments for tool {clean_text(name)!r} are nested more than {MAX_DEPTH} levels "
        "deep. Send flatter arguments.",
    )


def _depth(value: object) -> int:
    """How many levels of objects and arrays `value` has (iteratively: no recursion limit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _may_have_surrogates(text: str) -> bool:
    if text.isascii():
        return _ESCAPED_SURROGATE.search(text) is not None
    return True


def describe_errors(errors: Iterable[jsonschema.exceptions.ValidationError]) -> tuple[str, ...]:
    """List schema problems as ``$.path: what was wrong`` lines, in path order."""
    ordered = sorted(errors, key=lambda error: (list(map(str, error.absolute_path)), error.message))
    lines = [f"{error.json_path}: {error.message}" for error in ordered[:MAX_PROBLEMS]]
    if len(ordered) > MAX_PROBLEMS:
        lines.append(f"… and {len(ordered) - MAX_PROBLEMS} more")
    return tuple(lines)


#: What the model reads for a call whose run was cancelled before it finished.
CANCELLED_TEXT: Final = "The tool call was cancelled before it finished; its result is unknown."


def exception_message(exc: BaseException) -> str:
    """What an exception says, made safe to send; never raises.

    A message that cannot be read (its ``__str__`` raises) is replaced by the
    type name, e.g. ``"BadStr (its message could not be read)"``.
    """
    said = _read(exc)
    return f"{type(exc).__name__} (its message could not be read)" if said is None else said


def exception_text(exc: BaseException) -> str:
    """``"Type: message"``, or the type name alone when there is no message; never raises."""
    said = _read(exc)
    if said is None:
        return exception_message(exc)
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _read(exc: BaseException) -> str | None:
    try:
        return clean_text(str(exc))
    except (Exception, SystemExit, GeneratorExit):  # noqa: BLE001 - whatever a tool's __str__ does
        return None


def failed_result(tool_call: ToolCall, failed: Failed, *, duration: float = 0.0) -> ToolResult:
    """The ``tool`` message answering a call that failed."""
    return ToolResult(
        role="tool",
        tool_call_id=tool_call.id,
        name=clean_text(tool_call.function.name),
        content=clean_text(failed.message),
        failure=failed.failure,
        duration=duration,
    )


def cancelled_result(tool_call: ToolCall) -> ToolResult:
    """The ``tool`` message answering a call cancelled before it finished (`CANCELLED_TEXT`)."""
    return failed_result(tool_call, Failed(ToolFailure.CANCELLED, CANCELLED_TEXT))
