"""Batch input and output lines: parsing, checking, and what a resumed run skips (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from pathors_async._ids import check_session_id
from pathors_async._json import JSONError, loads

__all__ = [
    "BatchInputError",
    "BatchItem",
    "InputProblem",
    "done_ids",
    "item_key",
    "parse_lines",
]


@attrs.frozen(kw_only=True)
class BatchItem:
    """One conversation of a batch, as read from a JSONL input line.

    Attributes:
        id: The item's id (a string or an int, echoed as given in its result line).
        turns: User messages sent one after another on one conversation, or None.
        messages: A whole message list for a single ``agent.run``, or None.
        session_id: The session to continue (None: the service starts one).
        deps: Handed to the tools through ``ToolContext.deps``.
        line: The line number in the input file (1-based).
    """

    id: str | int
    turns: tuple[Any, ...] | None = None
    messages: tuple[Any, ...] | None = None
    session_id: str | None = None
    deps: Any = None
    line: int = 0


@attrs.frozen(kw_only=True)
class InputProblem:
    """A malformed input line: where it is and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class BatchInputError(ValueError):
    """The input has malformed lines and the batch was told to be strict.

    Attributes:
        problems: Every malformed line, in file order.
    """

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(problem) for problem in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(
            f"{len(self.problems)} malformed input line(s): {shown}{more}; fix them, or run "
            "without strict to skip them (each is reported)"
        )


def item_key(item_id: object) -> str:
    """The key an id is compared by when resuming (``1`` and ``"1"`` are the same item)."""
    return str(item_id)


def _check_list(data: Mapping[str, Any], field: str) -> tuple[Any, ...]:
    value = data[field]
    if not isinstance(value, list) or not value:
        raise ValueError(f'"{field}" must be a non-empty list')
    for position, entry in enumerate(value):
        if field == "turns" and isinstance(entry, str):
            continue
        if not isinstance(entry, Mapping) or not isinstance(entry.get("role"), str):
            wanted = "a string or a message object" if field == "turns" else "a message object"
            raise TypeError(
                f'"{field}"[{position}] must be {wanted} such as {{"role": "user", '
                '"content": "hi"}'
            )
    return tuple(value)


def parse_item(text: str, line: int) -> BatchItem:
    """Read one input line.

    Args:
        text: The line (without its line end).
        line: Its 1-based line number.

    Returns:
        The item.

    Raises:
        ValueError: The line is not a valid item; the message says why.
        TypeError: The same, for a value of the wrong type.
    """
    try:
        data = loads(text)
    except JSONError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise TypeError('expected an object such as {"id": "a1", "turns": ["hi"]}')
    item_id = data.get("id")
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or item_id == "":
        raise ValueError('"id" must be a non-empty string or an integer')
    if ("turns" in data) == ("messages" in data):
        raise ValueError('give exactly one of "turns" (a list of user messages) or "messages"')
    session_id = data.get("session_id")
    if session_id is not None:
        if not isinstance(session_id, str):
            raise ValueError('"session_id" must be a string')
        check_session_id(session_id)  # ValueError: it cannot go into a header
    return BatchItem(
        id=item_id,
        turns=_check_list(data, "turns") if "turns" in data else None,
        messages=_check_list(data, "messages") if "messages" in data else None,
        session_id=session_id,
        deps=data.get("deps"),
        line=line,
    )


def parse_lines(lines: Iterable[str]) -> tuple[list[BatchItem], list[InputProblem]]:
    """Read a JSONL input: the valid items, and a problem for every other non-blank line.

    A repeated id is a problem on the later line (the first one is kept).

    Args:
        lines: The file's lines.

    Returns:
        The items in file order, and the problems in file order.
    """
    items: list[BatchItem] = []
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            item = parse_item(text, number)
        except (ValueError, TypeError) as exc:
            problems.append(InputProblem(line=number, message=str(exc)))
            continue
        key = item_key(item.id)
        if key in seen:
            problems.append(
                InputProblem(line=number, message=f"id {key!r} repeats line {seen[key]}")
            )
            continue
        seen[key] = number
        items.append(item)
    return items, problems


def done_ids(data: bytes) -> tuple[set[str], int]:
    """The ids already in an output file, and how many bytes of it are whole lines.

    A line cut short by a crash (no line end, or not JSON) is not counted; the
    caller truncates the file to the returned length before appending.

    Args:
        data: The output file's bytes.

    Returns:
        The item keys of the complete result lines, and the length to keep.
    """
    keep = data.rfind(b"\n") + 1
    ids: set[str] = set()
    for raw in data[:keep].splitlines():
        try:
            result = loads(raw)
        except JSONError:
            continue
        if isinstance(result, dict) and "id" in result:
            ids.add(item_key(result["id"]))
    return ids, keep
