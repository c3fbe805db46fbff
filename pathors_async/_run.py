"""One run of the agent loop: the loop itself, and `AgentRun`.

A run reads its `RunSettings` and mutates only its `RunState` (both in
`_state`, re-exported here). The loop (`run_loop`, an async generator of
events) serves both ways of running: `drive` drains it and returns the
`RunResult`; `AgentRun` hands its events to the caller as they happen, each
turn streamed.

The transcript in a `RunState` is consistent at every moment: an assistant
message that calls tools goes in only together with an answer to each call
(its result, or a "cancelled" answer), in one synchronous step that runs before
the first ``await`` of any cleanup. So a level-triggered cancellation (an anyio
cancel scope, as Starlette uses when a browser goes away), which cancels every
later ``await`` again, cannot leave a tool call unanswered.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ._dispatch import CANCELLED_TEXT
from ._errors import APIError, MaxTurnsExceeded, PathorsError
from ._events import AgentEvent, TextDelta, ToolCallFinished, ToolCallStarted, TurnFinished
from ._models import ChatCompletion, Message, ToolResult
from ._sources import ToolCallBatch, dispatch_as_completed
from ._state import (
    CUT_OFF_TEXT,
    HasRunSettings,
    HistoryMode,
    RunResult,
    RunSettings,
    RunState,
    answer_unanswered,
    new_state,
    unanswered,
)
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
    "answer_unanswered",
    "drive",
    "new_state",
    "run_loop",
]

# ---------------------------------------------------------------- the loop


async def emit(settings: RunSettings, event: AgentEvent) -> None:
    """Hand an event to `on_event`, if set."""
    if settings.on_event is not None:
        outcome = settings.on_event(event)
        if inspect.isawaitable(outcome):
            await outcome


async def drive(settings: RunSettings, state: RunState) -> RunResult:
    """Run the loop to its end without streaming, calling `on_event` for each event.

    Without `on_event` nobody takes the events: `_run_quietly` takes the same steps
    as one coroutine, with no event made and no async generator on every resume.
    """
    if settings.on_event is None and not state.streaming:
        await _run_quietly(settings, state)
    else:
        async with aclosing(run_loop(settings, state)) as events:
            async for event in events:
                await emit(settings, event)
    assert state.result is not None  # noqa: S101 - the loop always sets it
    return state.result


def request_arguments(
    settings: RunSettings, state: RunState, definitions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The arguments of the run's next request (whole or streamed).

    Args:
        settings: The agent's settings.
        state: The run so far.
        definitions: The tool definitions to offer (empty: none).
    """
    if state.history == "server":
        messages = state.transcript[state.server_known :]
        first = state.session_id is None
    else:
        messages, first = state.transcript, True
    if settings.instructions and first:
        messages = [Message(role="system", content=settings.instructions), *messages]
    return {
        "messages": messages,  # turned into the request body before any await: no copy
        "tools": definitions or None,
        "session_id": state.session_id,
        "extra_body": settings.extra_body,
    }


async def run_loop(settings: RunSettings, state: RunState) -> AsyncGenerator[AgentEvent, None]:
    """The agent loop: ask, run the tools the answer calls, ask again, until a final answer."""
    try:
        while len(state.completions) < settings.max_turns:
            turn = len(state.completions) + 1
            if state.streaming:  # the streamed request inline: no generator layer per delta
                client = settings.client
                try:
                    arguments = request_arguments(
                        settings, state, await settings.tools.tool_definitions()
                    )
                    async with client.chat.completions.stream(**arguments) as s:
                        async for chunk in s:
                            for choice in chunk.choices:
                                if choice.index == 0 and choice.delta.content:
                                    yield TextDelta(text=choice.delta.content, turn=turn)
                        completion = _checked(client, await s.get_final_completion())
                except PathorsError as exc:
                    exc.messages = state.snapshot()
                    raise
            else:  # a plain coroutine: one frame less on every resume than a generator
                completion = await _ask(settings, state)
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


async def _run_quietly(settings: RunSettings, state: RunState) -> None:
    """`run_loop` for `drive` when nobody takes the events: the same steps, none made."""
    try:
        while len(state.completions) < settings.max_turns:
            completion = await _ask(settings, state)
            state.record(completion)
            message = completion.choices[0].message
            if not message.tool_calls:
                state.commit_answer(message)
                state.finish()
                return
            batch = _start_round(settings, state, message)
            results: dict[int, ToolResult] = {}
            cut_off = completion.choices[0].finish_reason == "length"
            try:
                if cut_off:
                    results = {
                        i: unanswered(c, CUT_OFF_TEXT) for i, c in enumerate(batch.tool_calls)
                    }
                else:
                    async for position, result in batch:
                        results[position] = result
            finally:
                await _end_round(state, message, batch, results)
            if cut_off:
                state.finish()
                return
        _stop_at_max_turns(settings, state)
    finally:
        state.end()


async def _ask(settings: RunSettings, state: RunState) -> ChatCompletion:
    """One whole (not streamed) request: the completion.

    Raises:
        PathorsError: The request failed (``.messages`` holds the transcript).
    """
    client = settings.client
    try:
        arguments = request_arguments(settings, state, await settings.tools.tool_definitions())
        return _checked(client, await client.chat.completions.create(**arguments))
    except PathorsError as exc:
        exc.messages = state.snapshot()
        raise


def _checked(client: AsyncPathors, completion: ChatCompletion) -> ChatCompletion:
    """The completion, if it has a choice to continue from.

    Raises:
        APIError: It has no choices.
    """
    if not completion.choices:
        url = client.chat_completions_url
        raise APIError(
            f"the answer from POST {url} had no choices, so the turn has no "
            "answer; .messages holds the transcript to retry with",
            url=url,
        )
    return completion


def _start_round(settings: RunSettings, state: RunState, message: Message) -> ToolCallBatch:
    """The batch of `message`'s tool calls (none runs until it is iterated)."""
    context: ToolContext[Any] = ToolContext(session_id=state.session_id, deps=state.deps)
    return dispatch_as_completed(
        settings.tools,
        message.tool_calls or (),
        context,
        max_concurrency=settings.max_tool_concurrency,
    )


async def _end_round(
    state: RunState, message: Message, batch: ToolCallBatch, results: dict[int, ToolResult]
) -> None:
    """Commit the round, every call answered (its result, else cancelled), then clean up.

    Synchronous up to `RunState.commit_tool_round`: the answers are in place
    before the first ``await``; only then are unfinished calls awaited.
    """
    answers = {**dict(batch.cancel()), **results}
    state.commit_tool_round(message, [answers[i] for i in range(len(batch.tool_calls))])
    await batch.aclose()  # wait for the cancelled calls to end


async def _tool_round(
    settings: RunSettings, state: RunState, completion: ChatCompletion, turn: int
) -> AsyncGenerator[AgentEvent, None]:
    """Report the turn, run its tool calls; however it ends, every call gets an answer."""
    message = completion.choices[0].message
    batch = _start_round(settings, state, message)
    results: dict[int, ToolResult] = {}
    try:
        yield TurnFinished(completion=completion, turn=turn)
        if completion.choices[0].finish_reason == "length":
            results = {i: unanswered(c, CUT_OFF_TEXT) for i, c in enumerate(batch.tool_calls)}
            return
        for call in batch.tool_calls:
            function = call.function
            yield ToolCallStarted(
                name=function.name, id=call.id, arguments=function.arguments, tool_call=call
            )
        async for position, result in batch:
            results[position] = result  # kept even if the consumer stops at this yield
            yield ToolCallFinished(result=result, failure=result.failure, duration=result.duration)
    finally:
        await _end_round(state, message, batch, results)


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
        if self._settings.on_event is not None:
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
