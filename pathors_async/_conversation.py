"""`Conversation`: one end user's exchange with an `Agent`, kept between their messages.

A web app makes one per end user, sends each of the user's messages through it,
and can keep it between HTTP requests: `to_dict` gives plain JSON-safe data and
`Conversation.from_dict` restores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._converter import to_messages, unstructure_messages
from ._ids import check_session_id
from ._models import FunctionCall, Message, ToolCall
from ._run import (
    AgentRun,
    HasRunSettings,
    HistoryMode,
    RunResult,
    RunState,
    answer_unanswered,
    drive,
)

__all__ = ["Conversation", "HistoryMode"]

FORMAT: Final = "pathors_async.conversation"
VERSION: Final = 1
_MESSAGE_KEYS: Final = frozenset(("role", "content", "name", "tool_calls", "tool_call_id"))


def _saved_calls(raw: object) -> tuple[ToolCall, ...] | None:
    """Tool calls exactly as `to_dict` writes them, or None for anything else."""
    if type(raw) is not list:
        return None
    calls = []
    for call in raw:
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict:
            return None
        call_id, kind = call.get("id"), call.get("type", "function")
        name, arguments = function.get("name"), function.get("arguments", "{}")
        if type(call_id) is not str or not call_id or type(kind) is not str:
            return None
        if type(name) is not str or type(arguments) is not str:
            return None
        calls.append(
            ToolCall(id=call_id, type=kind, function=FunctionCall(name=name, arguments=arguments))
        )
    return tuple(calls)


def _message_dicts(messages: list[Message]) -> list[dict[str, Any]]:
    """`unstructure_messages`, written out for messages without tool calls (most of them)."""
    dicts = []
    for message in messages:
        if message.tool_calls is not None:
            dicts.extend(unstructure_messages([message]))
            continue
        data = {"role": message.role}
        if message.content is not None:
            data["content"] = message.content
        if message.name is not None:
            data["name"] = message.name
        if message.tool_call_id is not None:
            data["tool_call_id"] = message.tool_call_id
        dicts.append(data)
    return dicts


def _saved_messages(raw: object) -> list[Message] | None:
    """Messages exactly as `to_dict` writes them, built without the checks of user input.

    Returns None at the first thing `to_dict` would not have written; the caller
    then hands the whole list to `to_messages`, which says what is wrong and where.
    """
    if type(raw) is not list:
        return None
    messages = []
    for item in raw:
        if type(item) is not dict or not item.keys() <= _MESSAGE_KEYS:
            return None
        role, content = item.get("role"), item.get("content")
        name, call_id = item.get("name"), item.get("tool_call_id")
        if type(role) is not str or not (  # inline: no call per field
            (content is None or type(content) is str)
            and (name is None or type(name) is str)
            and (call_id is None or type(call_id) is str)
        ):
            return None
        calls = item.get("tool_calls")
        if calls is not None and (calls := _saved_calls(calls)) is None:
            return None
        try:
            message = Message(
                role=role, content=content, name=name, tool_calls=calls, tool_call_id=call_id
            )
        except ValueError:
            return None
        messages.append(message)
    return messages


def _user_message(message: object) -> Message:
    """The user's next message as a `Message` (a dict is checked and converted)."""
    if isinstance(message, str):
        return Message(role="user", content=message)
    if isinstance(message, Message):
        return message
    if isinstance(message, Mapping):
        return to_messages([message])[0]
    raise TypeError(
        "send() takes the user's text, a Message or a message dict such as "
        f"{{'role': 'user', 'content': 'Hi'}}, not {type(message).__name__}"
    )


class Conversation:
    """One end user's conversation: the transcript and the session, across their messages.

    While a message is being answered, `messages` and `to_dict` show the last
    consistent state (every tool call in it answered); the run's result is
    taken in when it ends, however it ends.

    Args:
        agent: The `Agent` that answers.
        session_id: Continue this session (None: the service starts one).
        history: ``"full"`` sends the whole transcript each turn (as the service's
            own example does); ``"server"`` sends only the new messages and relies
            on the session's memory on the service.
        messages: The transcript so far.
        server_known: How many of `messages` the service has seen (``"server"``
            history; default: all).

    Raises:
        ValueError: An unknown history mode or an invalid session id.
    """

    def __init__(
        self,
        agent: HasRunSettings,
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
        self._run: RunState | None = None

    def __repr__(self) -> str:
        return (
            f"Conversation(session_id={self.session_id!r}, messages={len(self._current())}, "
            f"history={self.history!r})"
        )

    def _current(self) -> list[Message]:
        return self._run.transcript if self._run is not None else self._messages

    @property
    def messages(self) -> list[Message]:
        """The transcript (a copy): every message sent and received, tool messages included."""
        return list(self._current())

    @property
    def session_id(self) -> str | None:
        """The session id, once the service has given one."""
        return self._run.session_id if self._run is not None else self._session_id

    async def send(
        self,
        message: str | Message | Mapping[str, Any],
        *,
        deps: Any = None,  # noqa: ANN401 - the caller's own type
    ) -> RunResult:
        """Send the user's next message and run the agent until it answers.

        Args:
            message: The user's text, a `Message`, or a message dict.
            deps: Handed to tools through `ToolContext.deps`.

        Returns:
            The run's result (its `messages` is the whole transcript).

        Raises:
            RuntimeError: Another send on this conversation is under way.
            TypeError, ValueError: `message` is not a valid message.
            APIError: A request failed; the transcript keeps what happened
                (see `resume`).
            MaxTurnsExceeded: As for `Agent.run`.
        """
        return await drive(self.agent.settings, self._start(message, deps, streaming=False))

    def stream(
        self,
        message: str | Message | Mapping[str, Any],
        *,
        deps: Any = None,  # noqa: ANN401
    ) -> AgentRun:
        """Like `send`, streamed: ``async with conv.stream("hi") as run:`` then iterate ``run``.

        Nothing happens until the block is entered: a stream never entered
        leaves the conversation as it was.
        """
        return AgentRun(self.agent.settings, lambda: self._start(message, deps, streaming=True))

    @property
    def answered(self) -> bool:
        """Whether the last message is the assistant's final answer (nothing to resume)."""
        last = self._messages[-1] if self._messages else None
        return last is not None and last.role == "assistant" and not last.tool_calls

    async def resume(self, *, deps: Any = None) -> RunResult:  # noqa: ANN401
        """Run the agent again on the transcript as it is (after a failed send).

        Returns:
            The run's result.

        Raises:
            ValueError: Nothing to resume: no messages yet, or the last turn was answered.
        """
        return await drive(self.agent.settings, self._start(None, deps, streaming=False))

    def _start(self, message: object, deps: Any, *, streaming: bool) -> RunState:  # noqa: ANN401
        if self._run is not None:
            raise RuntimeError(
                "this conversation is already answering a message; "
                "send the next one after it finishes"
            )
        new = [] if message is None else [_user_message(message)]
        if not new and not self._messages:
            raise ValueError("nothing to resume: the conversation has no messages yet")
        if not new and self.answered:
            raise ValueError("nothing to resume: the last turn was answered; send a message")
        state = RunState(
            transcript=[*self._messages, *new],  # the run's own copy, taken back at the end
            session_id=self._session_id,
            deps=deps,
            history=self.history,
            server_known=self._server_known,
            streaming=streaming,
            input_count=len(self._messages),
            on_end=self._end,
        )
        self._run = state
        return state

    def _end(self, state: RunState) -> None:
        self._messages = list(state.transcript)
        self._session_id = state.session_id
        self._server_known = state.server_known
        self._run = None

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Return the conversation as plain JSON-safe data (with a format version).

        During a run it saves the last consistent state: never an assistant
        message whose tool calls are not all answered.

        Returns:
            A dict of strings, numbers, lists and dicts; `from_dict` restores it.
        """
        run = self._run
        return {
            "format": FORMAT,
            "version": VERSION,
            "session_id": self.session_id,
            "history": self.history,
            "server_known": run.server_known if run is not None else self._server_known,
            "messages": _message_dicts(self._current()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | object, *, agent: HasRunSettings) -> Conversation:
        """Restore a conversation saved with `to_dict`.

        Args:
            data: What `to_dict` returned (e.g. after a round trip through JSON).
            agent: The agent that will answer.

        Tool calls left unanswered in the data (saved by a version before the
        cancellation fix) are answered `ToolFailure.CANCELLED`, so the
        conversation can go on.

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
        messages = _saved_messages(raw_messages)
        if messages is None:  # not as to_dict wrote it: checked as user input, which says why
            messages = to_messages(raw_messages)
        known = data.get("server_known", len(messages))
        if isinstance(known, bool) or not isinstance(known, int) or not 0 <= known <= len(messages):
            raise ValueError(
                f"server_known must be an int from 0 to {len(messages)}, got {known!r}"
            )
        if any(message.tool_calls for message in messages):
            messages, known = answer_unanswered(messages, known)
        return cls(
            agent,
            session_id=data.get("session_id"),
            history=data.get("history", "full"),
            messages=messages,
            server_known=known,
        )
