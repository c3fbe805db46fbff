"""`Conversation`: one end user's exchange with an `Agent`, kept between their messages.

A web app makes one per end user, sends each of the user's messages through it,
and can keep it between HTTP requests: `to_dict` gives plain JSON-safe data and
`Conversation.from_dict` restores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from ._agent import AgentRun, RunState
from ._converter import to_messages, unstructure_messages
from ._models import Message
from ._resources import check_session_id

if TYPE_CHECKING:
    from ._agent import Agent, RunResult

__all__ = ["Conversation", "HistoryMode"]

#: ``"full"`` sends the whole transcript each turn; ``"server"`` only the new messages.
HistoryMode: TypeAlias = Literal["full", "server"]

FORMAT: Final = "pathors_async.conversation"
VERSION: Final = 1


class Conversation:
    """One end user's conversation: the transcript and the session, across their messages.

    Args:
        agent: The `Agent` that answers.
        session_id: Continue this session (None: the service starts one).
        history: ``"full"`` sends the whole transcript each turn (as the service's
            own example does); ``"server"`` sends only the new messages and relies
            on the session's memory on the service.
        messages: The transcript so far.

    Raises:
        ValueError: An unknown history mode or an invalid session id.
    """

    def __init__(
        self,
        agent: Agent,
        *,
        session_id: str | None = None,
        history: HistoryMode = "full",
        messages: list[Message] | None = None,
        server_known: int | None = None,
    ) -> None:
        if history not in ("full", "server"):
            raise ValueError(f"history must be 'full' or 'server', got {history!r}")
        self.agent = agent
        self.history: HistoryMode = history
        self._messages: list[Message] = list(messages or [])
        self._session_id = check_session_id(session_id)
        self._server_known = len(self._messages) if server_known is None else server_known
        self._running = False

    def __repr__(self) -> str:
        return (
            f"Conversation(session_id={self._session_id!r}, messages={len(self._messages)}, "
            f"history={self.history!r})"
        )

    @property
    def messages(self) -> list[Message]:
        """The transcript (a copy): every message sent and received, tool messages included."""
        return list(self._messages)

    @property
    def session_id(self) -> str | None:
        """The session id, once the service has given one."""
        return self._session_id

    async def send(self, message: str | Message, *, deps: Any = None) -> RunResult:  # noqa: ANN401
        """Send the user's next message and run the agent until it answers.

        Args:
            message: The user's text, or a `Message`.
            deps: Handed to tools through `ToolContext.deps`.

        Returns:
            The run's result (its `messages` is the whole transcript).

        Raises:
            RuntimeError: Another send on this conversation is under way.
            APIError: A request failed; the transcript keeps what happened
                (see `resume`).
            MaxTurnsExceeded: As for `Agent.run`.
        """
        return await self.agent.drive(self._start(message, deps, streaming=False))

    def stream(self, message: str | Message, *, deps: Any = None) -> AgentRun:  # noqa: ANN401
        """Like `send`, streamed: ``async with conv.stream("hi") as run:`` then iterate ``run``."""
        return AgentRun(self.agent, self._start(message, deps, streaming=True))

    async def resume(self, *, deps: Any = None) -> RunResult:  # noqa: ANN401
        """Run the agent again on the transcript as it is (after a failed send).

        Returns:
            The run's result.
        """
        return await self.agent.drive(self._start(None, deps, streaming=False))

    def _start(self, message: str | Message | None, deps: Any, *, streaming: bool) -> RunState:  # noqa: ANN401
        if self._running:
            raise RuntimeError(
                "this conversation is already answering a message; "
                "send the next one after it finishes"
            )
        start = len(self._messages)
        if message is not None:
            self._messages.append(
                Message(role="user", content=message) if isinstance(message, str) else message
            )
        elif not self._messages:
            raise ValueError("nothing to resume: the conversation has no messages yet")
        self._running = True
        state = RunState(
            transcript=self._messages,  # shared: the run extends the conversation's own list
            session_id=self._session_id,
            deps=deps,
            history=self.history,
            server_known=self._server_known,
            streaming=streaming,
            input_count=start,
        )
        state.on_end = lambda: self._end(state)
        return state

    def _end(self, state: RunState) -> None:
        self._session_id = state.session_id
        self._server_known = state.server_known
        self._running = False

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Return the conversation as plain JSON-safe data (with a format version).

        Returns:
            A dict of strings, numbers, lists and dicts; `from_dict` restores it.
        """
        return {
            "format": FORMAT,
            "version": VERSION,
            "session_id": self._session_id,
            "history": self.history,
            "server_known": self._server_known,
            "messages": unstructure_messages(self._messages),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | object, *, agent: Agent) -> Conversation:
        """Restore a conversation saved with `to_dict`.

        Args:
            data: What `to_dict` returned (e.g. after a round trip through JSON).
            agent: The agent that will answer.

        Returns:
            The conversation.

        Raises:
            ValueError: The data is not a saved conversation, or was written by a
                newer version of pathors_async.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError("this is not a conversation saved by Conversation.to_dict()")
        version = data.get("version")
        if version != VERSION:
            raise ValueError(
                f"this conversation was saved in format version {version!r}; this version of "
                f"pathors_async reads version {VERSION}"
            )
        raw_messages = data.get("messages") or []
        messages = to_messages(raw_messages) if raw_messages else []
        known = data.get("server_known", len(messages))
        if isinstance(known, bool) or not isinstance(known, int) or not 0 <= known <= len(messages):
            raise ValueError(
                f"server_known must be an int from 0 to {len(messages)}, got {known!r}"
            )
        return cls(
            agent,
            session_id=data.get("session_id"),
            history=data.get("history", "full"),
            messages=messages,
            server_known=known,
        )
