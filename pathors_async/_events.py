"""The events of an agent run: what `AgentRun` yields and `on_event` receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import attrs

from ._models import ChatCompletion, ToolCall, ToolFailure, ToolResult

__all__ = [
    "AgentEvent",
    "EventHook",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
]


@attrs.frozen(kw_only=True)
class TextDelta:
    """A piece of the model's text, as it streams in.

    Attributes:
        text: The new text.
        turn: The turn it belongs to (1 for the first answer of the run).
    """

    text: str
    turn: int


@attrs.frozen(kw_only=True)
class ToolCallStarted:
    """The model called a tool; it is about to run.

    Attributes:
        name: The tool's name.
        id: The tool call id.
        arguments: The arguments text, as the model wrote it.
        tool_call: The whole call.
    """

    name: str
    id: str
    arguments: str
    tool_call: ToolCall


@attrs.frozen(kw_only=True)
class ToolCallFinished:
    """A tool call has its answer (in the order the calls finish).

    Attributes:
        result: The ``tool`` message that answers it.
        failure: Why it failed, or None.
        duration: Seconds it took.
    """

    result: ToolResult
    failure: ToolFailure | None
    duration: float


@attrs.frozen(kw_only=True)
class TurnFinished:
    """The model answered; one turn is done.

    Attributes:
        completion: The answer.
        turn: Which turn of the run it was (from 1).
    """

    completion: ChatCompletion
    turn: int


#: Any event of a run.
AgentEvent: TypeAlias = TextDelta | ToolCallStarted | ToolCallFinished | TurnFinished
#: A hook called with every event (sync, or async returning an awaitable).
EventHook: TypeAlias = Callable[[AgentEvent], "Awaitable[None] | None"]
