"""One run of the agent loop: its settings, its state, the loop itself, and `AgentRun`.

`RunSettings` is what an `Agent` is configured with (frozen, shared by every
run); `RunState` is the only thing a run mutates. The loop (`run_loop`, an
async generator of events) serves both ways of running: `drive` drains it and
returns the `RunResult`; `AgentRun` hands its events to the caller as they
happen, each turn streamed.

The transcript in a `RunState` is consistent at every moment: an assistant
message that calls tools goes in only together with an answer to each call
(its result, or a "cancelled" answer), in one synchronous step that runs before
the first ``await`` of any cleanup. So a level-triggered cancellation (an anyio
cancel scope, as Starlette uses when a browser goes away), which cancels every
later ``await`` again, cannot leave a tool call unanswered.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias

import attrs

from ._converter import to_messages
from ._errors import APIError, MaxTurnsExceeded, PathorsError
from ._events import (
    AgentEvent,
    EventHook,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from ._ids import check_session_id
from ._models import ChatCompletion, Message, ToolCall, ToolFailure, ToolResult, Usage
from ._registry import ToolRegistry
from ._tools import ToolContext

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._client import AsyncPathors

__all__ = [
    "CANCELLED_TEXT",
    "CUT_OFF_TEXT",
    "AgentRun",
    "HasRunSettings",
    "HistoryMode",
    "RunResult",
    "RunSettings",
    "RunState",
    "drive",
    "new_state",
    "run_loop",
]

#: What the model reads for a tool call the run stopped before it finished.
CANCELLED_TEXT: Final = "The tool call was cancelled before it finished; its result is unknown."
#: What the model reads for a tool call in an answer cut off by its length limit.
CUT_OFF_TEXT: Final = (
    "The answer was cut off (finish_reason 'length') before this tool call was complete, "
    "so it was not run."
)

#: ``"full"`` sends the whole transcript each turn; ``"server"`` only the new messages.
HistoryMode: TypeAlias = Literal["full", "server"]


@attrs.frozen(kw_only=True)
class RunSettings:
    """How an agent runs: fixed when the `Agent` is made, shared by all its runs."""

    client: AsyncPathors
    tools: ToolRegistry
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


# ---------------------------------------------------------------- the loop


async def emit(settings: RunSettings, event: AgentEvent) -> None:
    """Hand an event to `on_event`, if set."""
    if settings.on_event is not None:
        outcome = settings.on_event(event)
        if inspect.isawaitable(outcome):
            await outcome


async def drive(settings: RunSettings, state: RunState) -> RunResult:
    """Run the loop to its end without streaming, calling `on_event` for each event."""
    async with aclosing(run_loop(settings, state)) as events:
        async for event in events:
            await emit(settings, event)
    assert state.result is not None  # noqa: S101 - the loop always sets it
    return state.result


def request_arguments(settings: RunSettings, state: RunState) -> dict[str, Any]:
    """The arguments of the run's next request (whole or streamed)."""
    if state.history == "server":
        messages = state.transcript[state.server_known :]
        first = state.session_id is None
    else:
        messages, first = state.transcript, True
    if settings.instructions and first:
        messages = [Message(role="system", content=settings.instructions), *messages]
    return {
        "messages": list(messages),
        "tools": settings.tools if len(settings.tools) else None,
        "session_id": state.session_id,
        "extra_body": settings.extra_body,
    }


async def run_loop(settings: RunSettings, state: RunState) -> AsyncGenerator[AgentEvent, None]:
    """The agent loop: ask, run the tools the answer calls, ask again, until a final answer."""
    try:
        while len(state.completions) < settings.max_turns:
            turn = len(state.completions) + 1
            completion: ChatCompletion | None = None
            async with aclosing(_ask(settings, state, turn)) as events:
                async for event in events:
                    if isinstance(event, ChatCompletion):
                        completion = event
                    else:
                        yield event
            assert completion is not None  # noqa: S101 - _ask ends with the completion
            state.record(completion)
            message = completion.choices[0].message
            if not message.tool_calls:
                state.commit_answer(message)
                yield TurnFinished(completion=completion, turn=turn)
                state.finish()
                return
            async with aclosing(_tool_round(settings, state, completion, turn)) as events:
                async for event in events:
                    yield event
            if completion.choices[0].finish_reason == "length":
                state.finish()
                return
        _stop_at_max_turns(settings, state)
    finally:
        state.end()


async def _ask(
    settings: RunSettings, state: RunState, turn: int
) -> AsyncGenerator[AgentEvent | ChatCompletion, None]:
    """One request: text deltas as they come (streamed), then the completion.

    Raises:
        PathorsError: The request failed (``.messages`` holds the transcript).
    """
    client = settings.client
    try:
        if state.streaming:
            async with client.chat.completions.stream(**request_arguments(settings, state)) as s:
                async for chunk in s:
                    for choice in chunk.choices:
                        if choice.index == 0 and choice.delta.content:
                            yield TextDelta(text=choice.delta.content, turn=turn)
                completion = await s.get_final_completion()
        else:
            completion = await client.chat.completions.create(**request_arguments(settings, state))
        if not completion.choices:
            url = client.chat_completions_url
            raise APIError(
                f"the answer from POST {url} had no choices, so the turn has no "
                "answer; .messages holds the transcript to retry with",
                url=url,
            )
    except PathorsError as exc:
        exc.messages = state.snapshot()
        raise
    yield completion


async def _tool_round(
    settings: RunSettings, state: RunState, completion: ChatCompletion, turn: int
) -> AsyncGenerator[AgentEvent, None]:
    """Report the turn, run its tool calls; however it ends, every call gets an answer.

    The answers (each call's result, else a "cancelled" one) and the assistant
    message go into the transcript together, before the first ``await`` of the
    cleanup; only then are unfinished calls cancelled and awaited.
    """
    message = completion.choices[0].message
    calls = list(message.tool_calls or ())
    context: ToolContext[Any] = ToolContext(session_id=state.session_id, deps=state.deps)
    batch = ToolBatch(settings.tools, calls, context)
    results: dict[int, ToolResult] = {}
    try:
        yield TurnFinished(completion=completion, turn=turn)
        if completion.choices[0].finish_reason == "length":
            results = {i: unanswered(call, CUT_OFF_TEXT) for i, call in enumerate(calls)}
            return
        for call in calls:
            function = call.function
            yield ToolCallStarted(
                name=function.name, id=call.id, arguments=function.arguments, tool_call=call
            )
        batch.start()
        while batch.running:
            for position, result in await batch.next_finished():
                results[position] = result  # kept even if the consumer stops at this yield
                yield ToolCallFinished(
                    result=result, failure=result.failure, duration=result.duration
                )
    finally:
        results = {**batch.finished(), **results}
        state.commit_tool_round(
            message,
            [
                results[i] if i in results else unanswered(call, CANCELLED_TEXT)
                for i, call in enumerate(calls)
            ],
        )
        await batch.cancel()


class ToolBatch:
    """One answer's tool calls, run concurrently (at most ``tools.max_concurrency`` at once).

    The only place the loop touches the dispatcher, so another one can take its place.
    """

    def __init__(
        self, tools: ToolRegistry, calls: Sequence[ToolCall], context: ToolContext[Any]
    ) -> None:
        self._tools = tools
        self._calls = calls
        self._context = context
        self._positions: dict[asyncio.Future[ToolResult], int] = {}
        self._pending: set[asyncio.Future[ToolResult]] = set()

    def start(self) -> None:
        """Start every call."""
        limit = asyncio.Semaphore(self._tools.max_concurrency or len(self._calls))

        async def run_one(call: ToolCall) -> ToolResult:
            async with limit:
                return await self._tools.dispatch(call, self._context)

        self._positions = {
            asyncio.ensure_future(run_one(call)): i for i, call in enumerate(self._calls)
        }
        self._pending = set(self._positions)

    @property
    def running(self) -> bool:
        """Whether some call has not been reported by `next_finished` yet."""
        return bool(self._pending)

    async def next_finished(self) -> list[tuple[int, ToolResult]]:
        """Wait for at least one call to finish; return (position, result) pairs, in order."""
        done, self._pending = await asyncio.wait(self._pending, return_when=asyncio.FIRST_COMPLETED)
        return sorted((self._positions[task], task.result()) for task in done)

    def finished(self) -> dict[int, ToolResult]:
        """The results of every call that has finished, reported or not (no waiting)."""
        return {
            position: task.result()
            for task, position in self._positions.items()
            if task.done() and not task.cancelled() and task.exception() is None
        }

    async def cancel(self) -> None:
        """Cancel the calls still running and wait for them to end."""
        running = [task for task in self._positions if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)


def unanswered(call: ToolCall, text: str) -> ToolResult:
    """The answer to a call that did not run to its end (`ToolFailure.CANCELLED`)."""
    return ToolResult(
        role="tool",
        tool_call_id=call.id,
        name=call.function.name,
        content=text,
        failure=ToolFailure.CANCELLED,
    )


def _stop_at_max_turns(settings: RunSettings, state: RunState) -> None:
    if settings.on_max_turns == "return":
        state.finish(max_turns_reached=True)
        return
    raise MaxTurnsExceeded(
        f"the model asked for tools in each of its {settings.max_turns} answers (max_turns) "
        "without a final answer; .messages holds the transcript (every tool call answered), "
        "so you can continue it with a higher max_turns",
        messages=state.snapshot(),
        last_completion=state.completions[-1] if state.completions else None,
    )


class AgentRun:
    """A streaming run: iterate it for events; `result` is ready once they end.

    The run starts when the ``async with`` block is entered (or at the first
    event); a run never entered changes nothing. Leaving the block early (break,
    an error, cancellation) closes any open stream and cancels running tools;
    `messages` then still holds a valid transcript.
    """

    def __init__(self, settings: RunSettings, start: Callable[[], RunState]) -> None:
        self._settings = settings
        self._start: Callable[[], RunState] | None = start
        self._state: RunState | None = None
        self._events: AsyncGenerator[AgentEvent, None] | None = None

    def _begin(self) -> AsyncGenerator[AgentEvent, None] | None:
        if self._events is None and self._start is not None:
            start, self._start = self._start, None
            self._state = start()
            self._events = run_loop(self._settings, self._state)
        return self._events

    async def __aenter__(self) -> Self:
        self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run now: close its stream, cancel its tools (a run not started never will)."""
        self._start = None
        if self._events is None or self._state is None:
            return
        try:
            await self._events.aclose()
        finally:
            self._state.end()  # also when the loop never started

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AgentEvent:
        events = self._begin()
        if events is None:
            raise StopAsyncIteration
        event = await events.__anext__()
        await emit(self._settings, event)
        return event

    @property
    def result(self) -> RunResult:
        """The `RunResult`, once every event has been read.

        Raises:
            RuntimeError: The run has not finished.
        """
        if self._state is None or self._state.result is None:
            raise RuntimeError("the run has not finished: read all its events first")
        return self._state.result

    @property
    def messages(self) -> list[Message]:
        """The transcript so far, always valid (empty before the run starts)."""
        return self._state.snapshot() if self._state is not None else []

    @property
    def session_id(self) -> str | None:
        """The session id, once the service has given one."""
        return self._state.session_id if self._state is not None else None
