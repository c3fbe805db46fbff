"""Scripts for the emulator: a list of replies and faults read from JSON (or YAML).

Each step is an object with one key naming a `FakePathors` scripting method
(``reply``, ``reply_tool_calls``, ``fail_next``, ...); that key's value is the
method's first argument (``true`` or ``null`` for methods that take none) and
the other keys are its keyword arguments::

    [
      {"reply_tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
      {"reply": "It is sunny in Paris."},
      {"fail_next": 503, "retry_after": 1},
      {"cut_stream_next": true, "after": 2}
    ]
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["SCRIPT_METHODS", "ScriptError", "apply_script", "read_script"]

#: The methods a step may name; each takes its value as the first argument, or none.
SCRIPT_METHODS: Final = {
    "reply": True,
    "reply_tool_calls": True,
    "fail_next": True,
    "delay_next": True,
    "stall_next": False,
    "drop_next": False,
    "cut_stream_next": False,
    "end_stream_next": False,
    "stall_stream_next": False,
    "corrupt_stream_next": False,
    "error_in_stream_next": False,
    "linger_after_done_next": False,
    "noisy_stream_next": False,
}


_FIRST_ARGUMENT: Final = {
    "reply": (str, "the answer's text"),
    "reply_tool_calls": (list, 'a list of {"name": ..., "arguments": {...}} objects'),
    "fail_next": (int, "an HTTP status such as 503"),
    "delay_next": (float, "a number of seconds"),
}


def _is(value: object, expected: type) -> bool:
    if isinstance(value, bool):
        return False
    if expected is float:
        return isinstance(value, (int, float))
    if expected is list:
        return isinstance(value, list) and all(
            isinstance(call, Mapping) and isinstance(call.get("name"), str) for call in value
        )
    return isinstance(value, expected)


class ScriptError(ValueError):
    """A script that cannot be read or applied; the message names the step and the fix."""


def read_script(path: str | Path) -> list[Any]:
    """Read a script file: JSON, or YAML (``.yaml``/``.yml``) when PyYAML is installed.

    Args:
        path: The file.

    Returns:
        The list of steps (not yet checked: `apply_script` checks them).

    Raises:
        ScriptError: The file cannot be read or parsed, or holds no list.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read the script {path}: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        steps = _parse_yaml(path, text)
    else:
        try:
            steps = json.loads(text)
        except ValueError as exc:
            raise ScriptError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(steps, list):
        raise ScriptError(f"{path} must hold a list of steps, got {type(steps).__name__}")
    return steps


def _parse_yaml(path: Path, text: str) -> Any:  # noqa: ANN401 - whatever the file holds
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - optional, never a dependency
    except ImportError:
        raise ScriptError(
            f"{path} is YAML but PyYAML is not installed: pip install pyyaml, "
            "or write the script as JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path} is not valid YAML: {exc}") from None


def apply_script(fake: object, steps: Sequence[Any]) -> int:
    """Queue every step of a script on an emulator, in order (all checked first).

    Replies and faults are separate queues: replies answer chat requests in
    order, request faults hit the next requests of any kind, stream faults the
    next streams.

    Args:
        fake: The `FakePathors`.
        steps: The steps (see the module docstring).

    Returns:
        How many steps were queued.

    Raises:
        ScriptError: A step is malformed; nothing is queued then.
    """
    calls = [_bind(fake, index, step) for index, step in enumerate(steps, 1)]
    for method, bound in calls:
        method(*bound.args, **bound.kwargs)
    return len(calls)


def _bind(fake: object, index: int, step: object) -> tuple[Any, inspect.BoundArguments]:
    if not isinstance(step, Mapping):
        raise ScriptError(f"step {index}: expected an object, got {type(step).__name__}")
    named = [key for key in step if key in SCRIPT_METHODS]
    if len(named) != 1:
        raise ScriptError(
            f"step {index}: name exactly one of {', '.join(SCRIPT_METHODS)}, got {sorted(step)}"
        )
    name = named[0]
    kwargs = {key: value for key, value in step.items() if key != name}
    args = (step[name],) if SCRIPT_METHODS[name] else ()
    expected = _FIRST_ARGUMENT.get(name)
    if expected is not None and not _is(step[name], expected[0]):
        raise ScriptError(f"step {index} ({name}): the value must be {expected[1]}")
    method = getattr(fake, name)
    try:
        bound = inspect.signature(method).bind(*args, **kwargs)
    except TypeError as exc:
        raise ScriptError(f"step {index} ({name}): {exc}") from None
    return method, bound
