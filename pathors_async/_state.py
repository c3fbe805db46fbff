"""A run's settings and state, and what it produces (no I/O).

`RunSettings` is what an `Agent` is configured with (frozen, shared by every
run); `RunState` is the only thing a run mutates; `RunResult` is what it
gives back. The loop that drives them lives in `_run`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias

import attrs

from ._converter import to_messages
from ._dispatch import CANCELLED_TEXT
from ._events import EventHook
from ._ids import check_session_id
from ._models import ChatCompletion, Message, ToolCall, ToolFailure, ToolResult, Usage
from ._sources import ToolSource

if TYPE_CHECKING:
    from ._client import AsyncPathors

__all__ = [
    "CUT_OFF_TEXT",
    "HasRunSettings",
    "HistoryMode",
    "RunResult",
    "RunSettings",
    "RunState",
    "answer_unanswered",
    "as_messages",
    "new_state",
    "sum_usage",
    "unanswered",
]

#: ``"full"`` sends the whole transcript each turn; ``"server"`` only the new messages.
HistoryMode: TypeAlias = Literal["full", "server"]

#: What the model reads for a tool call in an answer cut off by its length limit.
CUT_OFF_TEXT: Final = (
    "The answer was cut off (finish_reason 'length') before this tool call was complete, "
    "so it was not run."
)


@attrs.frozen(kw_only=True)
class RunSettings:
    """How an agent runs: fixed when the `Agent` is made, shared by all its runs."""

    client: AsyncPathors
    tools: ToolSource
    max_tool_concurrency: int | None = None
    instructions: str | None = None
    max_turns: int = 10
    extra_body: Mapping[str, Any] | None = None
    on_event: EventHook | None = None
    on_max_turns: Literal["raise", "return"] = "raise"


class HasRunSettings(Protocol):
    """Anything that carries `RunSettings` (an `Agent`)."""

    @property
    def settings(self) -> RunSettings:
        """The settings runs are made with."""
        ...


@attrs.frozen(kw_only=True)
class RunResult:
    """What a run produced.

    Attributes:
        output: The final answer's text ("" if it had none).
        messages: The whole transcript: the input, every assistant message, every
            ``tool`` message (without the agent's instructions).
        session_id: The session the run belongs to.
        turns: How many answers the model gave in this run (retried attempts are not turns).
        completions: Those answers.
        usage: Token counts summed over the run; a count is None when any answer
            did not report it.
        tool_results: Every tool message of the run, with its failure kind.
        stop_reason: The last answer's ``finish_reason`` (``"stop"``, ``"length"``…).
        max_turns_reached: True when the run stopped at `max_turns` (with
            ``on_max_turns="return"``) rather than on a final answer.
    """

    output: str
    messages: list[Message]
    session_id: str | None
    turns: int
    completions: list[ChatCompletion]
    usage: Usage
    tool_results: list[ToolResult]
    stop_reason: str | None
    max_turns_reached: bool = False
    new_messages_start: int = attrs.field(default=0, repr=False)

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added (after its input)."""
        return self.messages[self.new_messages_start :]


def sum_usage(usages: Sequence[Usage | None]) -> Usage:
    """Add up token counts; a count stays None when any answer did not report it."""

    def total(field: str) -> int | None:
        sum_so_far = 0
        for usage in usages:
            value = getattr(usage, field) if usage is not None else None
            if value is None:
                return None
            sum_so_far += value
        return sum_so_far if usages else None

    return Usage(
        prompt_tokens=total("prompt_tokens"),
        completion_tokens=total("completion_tokens"),
        total_tokens=total("total_tokens"),
    )


@attrs.define
class RunState:
    """A run's mutable state: its own transcript and what the run has seen so far.

    `transcript` only ever grows by whole, consistent steps (`commit_answer`,
    `commit_tool_round`), so reading it at any moment gives a valid transcript.
    """

    transcript: list[Message]
    session_id: str | None
    deps: Any
    history: HistoryMode = "full"
    server_known: int = 0  # messages the service has already seen (history="server")
    streaming: bool = False
    input_count: int = 0
    completions: list[ChatCompletion] = attrs.field(factory=list)
    tool_results: list[ToolResult] = attrs.field(factory=list)
    result: RunResult | None = None
    on_end: Callable[[RunState], None] | None = None  # called once when the run ends, however

    def end(self) -> None:
        """Mark the run as over (calls `on_end` the first time only)."""
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end(self)

    def snapshot(self) -> list[Message]:
        """A copy of the transcript."""
        return list(self.transcript)

    def record(self, completion: ChatCompletion) -> None:
        """Take an answer into the run's turn count and session (not yet the transcript)."""
        self.completions.append(completion)
        self.session_id = completion.session_id or self.session_id

    def commit_answer(self, message: Message) -> None:
        """Put an assistant message without tool calls into the transcript."""
        self.transcript.append(message)
        self.server_known = len(self.transcript)

    def commit_tool_round(self, message: Message, answers: Sequence[ToolResult]) -> None:
        """Put an assistant message and the answers to all its tool calls in, in one step."""
        self.transcript.append(message)
        self.server_known = len(self.transcript)  # the service wrote the message itself
        self.transcript.extend(answers)
        self.tool_results.extend(answers)

    def finish(self, *, max_turns_reached: bool = False) -> RunResult:
        """Build the `RunResult` from the state as it is."""
        last = self.completions[-1] if self.completions else None
        choice = last.choices[0] if last and last.choices else None
        self.result = RunResult(
            output=(choice.message.content or "") if choice else "",
            messages=self.snapshot(),
            session_id=self.session_id,
            turns=len(self.completions),
            completions=list(self.completions),
            usage=sum_usage([completion.usage for completion in self.completions]),
            tool_results=list(self.tool_results),
            stop_reason=choice.finish_reason if choice else None,
            max_turns_reached=max_turns_reached,
            new_messages_start=self.input_count,
        )
        return self.result


def as_messages(value: object) -> list[Message]:
    """A run's input as messages: a question, a `Message`, a message dict, or a list of them.

    Raises:
        TypeError, ValueError: A message is malformed (the error names it).
    """
    if isinstance(value, str):
        return [Message(role="user", content=value)]
    if isinstance(value, Message):
        return [value]
    if isinstance(value, Mapping):
        return to_messages([value])
    return to_messages(value)


def new_state(
    value: str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]],
    session_id: str | None,
    deps: Any,  # noqa: ANN401 - the caller's own type
    *,
    streaming: bool,
) -> RunState:
    """The state of a fresh run on `value` (see `as_messages`)."""
    messages = as_messages(value)
    return RunState(
        transcript=messages,
        session_id=check_session_id(session_id),
        deps=deps,
        streaming=streaming,
        input_count=len(messages),
    )


def unanswered(call: ToolCall, text: str) -> ToolResult:
    """The answer to a call that did not run to its end (`ToolFailure.CANCELLED`)."""
    return ToolResult(
        role="tool",
        tool_call_id=call.id,
        name=call.function.name,
        content=text,
        failure=ToolFailure.CANCELLED,
    )


def answer_unanswered(messages: Sequence[Message], known: int) -> tuple[list[Message], int]:
    """Answer "cancelled" every tool call in `messages` that has no answer (pure).

    Each missing answer goes right after the call's run of ``tool`` messages,
    so a transcript saved with unanswered calls (by a version before the
    cancellation fix) can be continued.

    Args:
        messages: The transcript.
        known: How many of `messages` the service has seen (``"server"`` history).

    Returns:
        The transcript with every call answered, and `known` counted in it.
    """
    repaired: list[Message] = []
    waiting: list[ToolCall] = []
    new_known = known
    for position, message in enumerate(messages):
        if message.role != "tool" and waiting:
            repaired.extend(unanswered(call, CANCELLED_TEXT) for call in waiting)
            new_known += len(waiting) if position < known else 0
            waiting = []
        if message.role == "tool":
            waiting = [call for call in waiting if call.id != message.tool_call_id]
        elif message.role == "assistant" and message.tool_calls:
            waiting = list(message.tool_calls)
        repaired.append(message)
    repaired.extend(unanswered(call, CANCELLED_TEXT) for call in waiting)  # new to the service
    return repaired, new_known
