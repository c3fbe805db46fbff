"""`Agent`: the tool loop. Post the messages; while the model calls tools, run them and post again.

One loop (`Agent._loop`, an async generator of events) serves both ways of
running: `Agent.run` drains it and returns the `RunResult`; `Agent.run_stream`
hands its events to the caller as they happen, each turn streamed. Whatever ends a
run (an answer, `max_turns`, an error, cancellation), the transcript stays valid:
every tool call in it is answered.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from ._converter import to_messages
from ._errors import APIError, MaxTurnsExceeded, PathorsError
from ._models import ChatCompletion, Message, ToolCall, ToolFailure, ToolResult, Usage
from ._registry import ToolRegistry
from ._resources import check_session_id
from ._tools import ToolContext

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._client import AsyncPathors
    from ._conversation import Conversation, HistoryMode

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentRun",
    "RunResult",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
]

CANCELLED_TEXT: Final = "The tool call was cancelled before it finished; its result is unknown."


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


AgentEvent: TypeAlias = TextDelta | ToolCallStarted | ToolCallFinished | TurnFinished
EventHook: TypeAlias = Callable[[AgentEvent], "Awaitable[None] | None"]


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


def _sum_usage(usages: Sequence[Usage | None]) -> Usage:
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
    """A run's mutable state: the transcript and what the run has seen so far."""

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
    on_end: Callable[[], None] | None = None  # called once when the run ends, however

    def end(self) -> None:
        """Mark the run as over (calls `on_end` the first time only)."""
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    def snapshot(self) -> list[Message]:
        return list(self.transcript)

    def finish(self, *, max_turns_reached: bool = False) -> RunResult:
        last = self.completions[-1] if self.completions else None
        choice = last.choices[0] if last and last.choices else None
        self.result = RunResult(
            output=(choice.message.content or "") if choice else "",
            messages=self.snapshot(),
            session_id=self.session_id,
            turns=len(self.completions),
            completions=list(self.completions),
            usage=_sum_usage([completion.usage for completion in self.completions]),
            tool_results=list(self.tool_results),
            stop_reason=choice.finish_reason if choice else None,
            max_turns_reached=max_turns_reached,
            new_messages_start=self.input_count,
        )
        return self.result


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _new_state(
    value: str | Message | Sequence[Message | Mapping[str, Any]],
    session_id: str | None,
    deps: Any,  # noqa: ANN401 - the caller's own type
    *,
    streaming: bool,
) -> RunState:
    """The state of a run on `value`: a question, a `Message`, or a list of messages."""
    if isinstance(value, str):
        messages = [Message(role="user", content=value)]
    elif isinstance(value, Message):
        messages = [value]
    else:
        messages = to_messages(value)
    return RunState(
        transcript=messages,
        session_id=check_session_id(session_id),
        deps=deps,
        streaming=streaming,
        input_count=len(messages),
    )


class Agent:
    """Answers with the help of tools: runs the model's tool calls until it gives an answer.

    Share one agent (and one client) between all conversations; a run keeps its
    state to itself.

    Args:
        client: The `AsyncPathors` client.
        tools: The `ToolRegistry` the model may call (None: no tools).
        instructions: A system message sent first in every request (not kept
            in the transcript).
        max_turns: Most model answers per run.
        extra_body: Fields merged into every request body.
        on_event: Called with every event of every run (sync or async), for
            logging and metrics.
        on_max_turns: ``"raise"`` (`MaxTurnsExceeded`) or ``"return"`` (a result
            marked ``max_turns_reached``).

    Raises:
        ValueError, TypeError: An option is out of range.
    """

    def __init__(
        self,
        client: AsyncPathors,
        *,
        tools: ToolRegistry | None = None,
        instructions: str | None = None,
        max_turns: int = 10,
        extra_body: Mapping[str, Any] | None = None,
        on_event: EventHook | None = None,
        on_max_turns: Literal["raise", "return"] = "raise",
    ) -> None:
        if not _positive_int(max_turns):
            raise ValueError(f"max_turns must be a positive int, got {max_turns!r}")
        if on_max_turns not in ("raise", "return"):
            raise ValueError(f"on_max_turns must be 'raise' or 'return', got {on_max_turns!r}")
        if tools is not None and not isinstance(tools, ToolRegistry):
            raise TypeError(f"tools must be a ToolRegistry, not {type(tools).__name__}")
        self.client = client
        self.tools = tools if tools is not None else ToolRegistry()
        self.instructions = instructions
        self.max_turns = max_turns
        self.extra_body = dict(extra_body) if extra_body else None
        self.on_event = on_event
        self.on_max_turns = on_max_turns

    def __repr__(self) -> str:
        return f"Agent(tools={self.tools.names!r}, max_turns={self.max_turns})"

    async def run(
        self,
        input: str | Message | Sequence[Message | Mapping[str, Any]],  # noqa: A002 - the DESIGN name
        *,
        session_id: str | None = None,
        deps: Any = None,  # noqa: ANN401 - the caller's own type
    ) -> RunResult:
        """Answer `input`, running tools as the model asks; non-streaming requests.

        Args:
            input: A question, a `Message`, or a whole list of messages.
            session_id: Continue this session; else the service starts one.
            deps: Handed to tools through `ToolContext.deps`.

        Returns:
            The result: the answer, the transcript, the session id, usage…

        Raises:
            MaxTurnsExceeded: `max_turns` answers without a final one (unless
                ``on_max_turns="return"``).
            APIError: A request failed; ``.messages`` holds the transcript so far.
        """
        return await self.drive(_new_state(input, session_id, deps, streaming=False))

    def run_stream(
        self,
        input: str | Message | Sequence[Message | Mapping[str, Any]],  # noqa: A002
        *,
        session_id: str | None = None,
        deps: Any = None,  # noqa: ANN401
    ) -> AgentRun:
        """Like `run`, but stream every turn and hand out events as they happen.

        Use it as ``async with agent.run_stream(...) as run: async for event in run``;
        ``run.result`` is the `RunResult` once the events are exhausted.
        """
        return AgentRun(self, _new_state(input, session_id, deps, streaming=True))

    def conversation(
        self, session_id: str | None = None, history: HistoryMode = "full"
    ) -> Conversation:
        """Start a `Conversation`: one per end user, kept between their messages."""
        from ._conversation import Conversation  # noqa: PLC0415 - it imports this module

        return Conversation(self, session_id=session_id, history=history)

    # ------------------------------------------------------------ the loop

    async def drive(self, state: RunState) -> RunResult:
        """Run the loop to its end without streaming, calling `on_event` for each event."""
        async for event in self._loop(state):
            await self.emit(event)
        assert state.result is not None  # noqa: S101 - the loop always sets it
        return state.result

    async def emit(self, event: AgentEvent) -> None:
        """Hand an event to `on_event`, if set."""
        if self.on_event is not None:
            outcome = self.on_event(event)
            if inspect.isawaitable(outcome):
                await outcome

    def _request(self, state: RunState) -> dict[str, Any]:
        """The arguments of the run's next request (whole or streamed)."""
        if state.history == "server":
            messages = state.transcript[state.server_known :]
            first = state.session_id is None
        else:
            messages, first = state.transcript, True
        if self.instructions and first:
            messages = [Message(role="system", content=self.instructions), *messages]
        return {
            "messages": list(messages),
            "tools": self.tools if len(self.tools) else None,
            "session_id": state.session_id,
            "extra_body": self.extra_body,
        }

    async def _loop(self, state: RunState) -> AsyncGenerator[AgentEvent, None]:
        try:
            while len(state.completions) < self.max_turns:
                turn = len(state.completions) + 1
                completion: ChatCompletion | None = None
                try:
                    if state.streaming:
                        async with aclosing(self._stream_turn(state, turn)) as events:
                            async for event in events:
                                if isinstance(event, ChatCompletion):
                                    completion = event
                                else:
                                    yield event
                    else:
                        completion = await self.client.chat.completions.create(
                            **self._request(state)
                        )
                    if completion is None or not completion.choices:
                        url = self.client.chat_completions_url
                        raise APIError(
                            f"the answer from POST {url} had no choices, so the turn has no "
                            "answer; .messages holds the transcript to retry with",
                            url=url,
                        )
                except PathorsError as exc:
                    exc.messages = state.snapshot()
                    raise
                message = self._record(state, completion)
                yield TurnFinished(completion=completion, turn=turn)
                if not message.tool_calls or completion.choices[0].finish_reason == "length":
                    state.finish()
                    return
                async with aclosing(self._run_tools(message.tool_calls, state)) as events:
                    async for event in events:
                        yield event
            self._stop_at_max_turns(state)
        finally:
            state.end()

    @staticmethod
    def _record(state: RunState, completion: ChatCompletion) -> Message:
        """Take an answer into the run: the transcript, the session id, the turn count."""
        message = completion.choices[0].message
        state.completions.append(completion)
        state.session_id = completion.session_id or state.session_id
        state.transcript.append(message)
        state.server_known = len(state.transcript)
        return message

    async def _stream_turn(
        self, state: RunState, turn: int
    ) -> AsyncGenerator[AgentEvent | ChatCompletion, None]:
        """One streamed turn: text deltas as they come, then the assembled completion."""
        async with self.client.chat.completions.stream(**self._request(state)) as stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.index == 0 and choice.delta.content:
                        yield TextDelta(text=choice.delta.content, turn=turn)
            yield await stream.get_final_completion()

    async def _run_tools(
        self, tool_calls: Sequence[ToolCall], state: RunState
    ) -> AsyncGenerator[AgentEvent, None]:
        """Run one answer's tool calls concurrently; answer every call, even on cancellation."""
        context: ToolContext[Any] = ToolContext(session_id=state.session_id, deps=state.deps)
        limit = asyncio.Semaphore(self.tools.max_concurrency or len(tool_calls))

        async def run_one(call: ToolCall) -> ToolResult:
            async with limit:
                return await self.tools.dispatch(call, context)

        tasks: list[asyncio.Future[ToolResult]] = []
        results: list[ToolResult | None] = [None] * len(tool_calls)
        try:
            for call in tool_calls:
                function = call.function
                yield ToolCallStarted(
                    name=function.name, id=call.id, arguments=function.arguments, tool_call=call
                )
            tasks = [asyncio.ensure_future(run_one(call)) for call in tool_calls]
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=tasks.index):
                    result = results[tasks.index(task)] = task.result()
                    yield ToolCallFinished(
                        result=result, failure=result.failure, duration=result.duration
                    )
        finally:
            # However the run ends, every call gets an answer: its result if it has
            # one (even one not yet reported), else a "cancelled" message.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for position, task in enumerate(tasks):
                if results[position] is None and not task.cancelled() and not task.exception():
                    results[position] = task.result()
            answered = [
                result if result is not None else _cancelled(call)
                for call, result in zip(tool_calls, results, strict=True)
            ]
            state.transcript.extend(answered)
            state.tool_results.extend(answered)

    def _stop_at_max_turns(self, state: RunState) -> None:
        if self.on_max_turns == "return":
            state.finish(max_turns_reached=True)
            return
        raise MaxTurnsExceeded(
            f"the model asked for tools in each of its {self.max_turns} answers (max_turns) "
            "without a final answer; .messages holds the transcript (every tool call answered), "
            "so you can continue it with a higher max_turns",
            messages=state.snapshot(),
            last_completion=state.completions[-1] if state.completions else None,
        )


def _cancelled(call: ToolCall) -> ToolResult:
    return ToolResult(
        role="tool",
        tool_call_id=call.id,
        name=call.function.name,
        content=CANCELLED_TEXT,
        failure=ToolFailure.CANCELLED,
    )


class AgentRun:
    """A streaming run: iterate it for events; `result` is ready once they end.

    Leaving the ``async with`` block early (break, an error, cancellation)
    closes any open stream and cancels running tools; `messages` then still
    holds a valid transcript.
    """

    def __init__(self, agent: Agent, state: RunState) -> None:
        self._agent = agent
        self._state = state
        self._events = agent._loop(state)  # noqa: SLF001 - the loop is the agent's

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
        """Stop the run now: close its stream, cancel its tools."""
        await self._events.aclose()
        self._state.end()  # also when it never started

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AgentEvent:
        event = await self._events.__anext__()
        await self._agent.emit(event)
        return event

    @property
    def result(self) -> RunResult:
        """The `RunResult`, once every event has been read.

        Raises:
            RuntimeError: The run has not finished.
        """
        if self._state.result is None:
            raise RuntimeError("the run has not finished: read all its events first")
        return self._state.result

    @property
    def messages(self) -> list[Message]:
        """The transcript so far (valid even after the run was stopped)."""
        return self._state.snapshot()

    @property
    def session_id(self) -> str | None:
        """The session id, once the service has given one."""
        return self._state.session_id
