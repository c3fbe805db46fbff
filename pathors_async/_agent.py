"""`Agent`: the facade users hold. Settings here; each run's state and loop live in `_run`.

Share one agent (and one client) between all conversations: an agent is only
its frozen `RunSettings`; `run`, `run_stream` and `conversation` each make
state of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._conversation import Conversation
from ._events import AgentEvent, EventHook
from ._models import Message
from ._registry import ToolRegistry
from ._run import AgentRun, HistoryMode, RunResult, RunSettings, drive, new_state
from ._sources import CombinedSource, ToolSource, combine_sources
from .stores import Conversations, ConversationStore

if TYPE_CHECKING:
    from ._client import AsyncPathors

__all__ = ["Agent", "AgentEvent", "AgentRun", "RunResult"]

Input = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]]


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_tools(tools: object) -> ToolSource:
    """One `ToolSource` from what was passed as ``tools=`` (None: an empty registry)."""
    if tools is None:
        return ToolRegistry()
    functions = [
        item
        for item in (tools if isinstance(tools, (list, tuple)) else ())
        if callable(item) and not isinstance(item, ToolSource)
    ]
    if functions:
        names = ", ".join(getattr(item, "__name__", "fn") for item in functions[:3])
        raise TypeError(
            f"tools must be a ToolSource (a ToolRegistry) or a list of them, not a "
            f"{type(tools).__name__} of functions; to give the agent plain functions, "
            f"register them: Agent(client, tools=ToolRegistry([{names}]))"
        )
    return combine_sources(tools)


def _max_concurrency(source: ToolSource) -> int | None:
    """The smallest ``max_concurrency`` among the registries in `source` (None: no limit)."""
    parts = source.sources if isinstance(source, CombinedSource) else (source,)
    limits = [
        part.max_concurrency
        for part in parts
        if isinstance(part, ToolRegistry) and part.max_concurrency is not None
    ]
    return min(limits, default=None)


class Agent:
    """Answers with the help of tools: runs the model's tool calls until it gives an answer.

    Share one agent (and one client) between all conversations; a run keeps its
    state to itself.

    Args:
        client: The `AsyncPathors` client.
        tools: The tools the model may call: a `ToolRegistry`, another
            `ToolSource`, or a list of them (tool names must be unique across
            them); None: no tools. The agent never closes them: they belong to
            the application. A round of calls runs at most the smallest
            ``max_concurrency`` of the registries at once.
        instructions: A system message sent first in every request (not kept
            in the transcript).
        max_turns: Most model answers per run.
        extra_body: Fields merged into every request body.
        on_event: Called with every event of every run (sync or async), for
            logging and metrics.
        on_max_turns: ``"raise"`` (`MaxTurnsExceeded`) or ``"return"`` (a result
            marked ``max_turns_reached``).

    Raises:
        ValueError: `max_turns` or `on_max_turns` is out of range.
        TypeError: `tools` is not a tool source or a list of them (a list of
            functions gets a hint: wrap it in ``ToolRegistry([...])``).
        ValueError: Two sources define the same tool name.
    """

    def __init__(
        self,
        client: AsyncPathors,
        *,
        tools: ToolSource | Sequence[ToolSource] | None = None,
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
        source = _check_tools(tools)
        self._settings = RunSettings(
            client=client,
            tools=source,
            max_tool_concurrency=_max_concurrency(source),
            instructions=instructions,
            max_turns=max_turns,
            extra_body=dict(extra_body) if extra_body else None,
            on_event=on_event,
            on_max_turns=on_max_turns,
        )

    def __repr__(self) -> str:
        return f"Agent(tools={self.tools!r}, max_turns={self.max_turns})"

    @property
    def settings(self) -> RunSettings:
        """The frozen settings every run of this agent uses."""
        return self._settings

    @property
    def client(self) -> AsyncPathors:
        """The client the agent sends requests with."""
        return self._settings.client

    @property
    def tools(self) -> ToolSource:
        """The tools the model may call (one source; several given are combined)."""
        return self._settings.tools

    @property
    def instructions(self) -> str | None:
        """The system message sent first in every request."""
        return self._settings.instructions

    @property
    def max_turns(self) -> int:
        """Most model answers per run."""
        return self._settings.max_turns

    @property
    def extra_body(self) -> Mapping[str, Any] | None:
        """Fields merged into every request body."""
        return self._settings.extra_body

    @property
    def on_event(self) -> EventHook | None:
        """The hook called with every event."""
        return self._settings.on_event

    @property
    def on_max_turns(self) -> Literal["raise", "return"]:
        """What a run does after `max_turns` answers that all called tools."""
        return self._settings.on_max_turns

    async def run(
        self,
        input: Input,  # noqa: A002 - the DESIGN name
        *,
        session_id: str | None = None,
        deps: Any = None,  # noqa: ANN401 - the caller's own type
    ) -> RunResult:
        """Answer `input`, running tools as the model asks; non-streaming requests.

        Args:
            input: A question, a `Message` (or message dict), or a whole list of messages.
            session_id: Continue this session; else the service starts one.
            deps: Handed to tools through `ToolContext.deps`.

        Returns:
            The result: the answer, the transcript, the session id, usage…

        Raises:
            MaxTurnsExceeded: `max_turns` answers without a final one (unless
                ``on_max_turns="return"``).
            APIError: A request failed; ``.messages`` holds the transcript so far.
        """
        return await drive(self._settings, new_state(input, session_id, deps, streaming=False))

    def run_stream(
        self,
        input: Input,  # noqa: A002
        *,
        session_id: str | None = None,
        deps: Any = None,  # noqa: ANN401
    ) -> AgentRun:
        """Like `run`, but stream every turn and hand out events as they happen.

        Use it as ``async with agent.run_stream(...) as run: async for event in run``;
        ``run.result`` is the `RunResult` once the events are exhausted.
        """
        state = new_state(input, session_id, deps, streaming=True)
        return AgentRun(self._settings, lambda: state)

    def conversation(
        self, session_id: str | None = None, history: HistoryMode = "full"
    ) -> Conversation:
        """Start a `Conversation`: one per end user, kept between their messages."""
        return Conversation(self, session_id=session_id, history=history)

    def conversations(
        self,
        store: ConversationStore,
        *,
        history: HistoryMode = "full",
        lock_ttl: float = 60,
        lock_wait: float = 30,
    ) -> Conversations:
        """Conversations kept in `store`, one turn at a time per key across processes.

        Args:
            store: Where conversations live (`MemoryStore`, `SQLiteStore`,
                `RedisStore` or your own `ConversationStore`).
            history: ``"full"`` (send the whole transcript each turn) or ``"server"``.
            lock_ttl: Seconds a lease lasts unless renewed (it is renewed while a run lasts).
            lock_wait: Seconds a turn waits for the lease before `ConversationBusy`.

        Returns:
            The `Conversations` (``send``, ``stream``, ``load``, ``delete``).
        """
        return Conversations(self, store, history=history, lock_ttl=lock_ttl, lock_wait=lock_wait)
