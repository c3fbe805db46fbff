"""The data models: messages, tool calls, completions, chunks and sessions.

All are attrs classes, ``frozen=True, slots=True, kw_only=True``. They are built
from and turned into wire JSON by the private converter in `_converter`; build
them directly when writing messages by hand.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

__all__ = [
    "ROLES",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "FunctionCall",
    "Message",
    "SessionCreated",
    "SessionEnded",
    "SessionState",
    "ToolCall",
    "ToolCallDelta",
    "ToolFailure",
    "ToolResult",
    "Usage",
]

#: The message roles the service accepts.
ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool"})


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _tuple_or_none(value: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen(kw_only=True)
class FunctionCall:
    """The function part of a tool call.

    Attributes:
        name: The tool's name.
        arguments: The arguments as a JSON text, exactly as the model wrote them.
    """

    name: str
    arguments: str = "{}"


@attrs.frozen(kw_only=True)
class ToolCall:
    """One tool call requested by the model.

    Attributes:
        id: The call id; the `tool` message answering it repeats it. A call a
            server sent without one gets a stable generated id,
            ``call_<n>_<hash>`` (the same for the same completion).
        type: Always ``"function"`` today.
        function: The name and JSON arguments.

    Raises:
        ValueError: If `id` is empty: no ``tool`` message could answer the call.
    """

    id: str
    function: FunctionCall
    type: str = "function"

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ValueError(
                'a tool call needs an id (such as "call_1"): the tool message answering it '
                "repeats it"
            )


@attrs.frozen(kw_only=True)
class Message:
    """One chat message.

    Attributes:
        role: One of ``system``, ``developer``, ``user``, ``assistant``, ``tool``.
        content: The text; None for an assistant message that only calls tools.
            A server's list of content parts arrives joined into text.
        name: For ``tool`` messages, the tool's name (optional elsewhere).
        tool_calls: For ``assistant`` messages, the tool calls requested.
        tool_call_id: For ``tool`` messages, the id of the call answered.

    Raises:
        ValueError: On an unknown role, a ``tool`` message without
            `tool_call_id`, or a message with neither content nor tool calls.
    """

    role: str
    content: str | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    tool_call_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.role not in ROLES:
            allowed = ", ".join(sorted(ROLES))
            raise ValueError(f"unknown message role {self.role!r}; use one of: {allowed}")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError(
                "a 'tool' message needs tool_call_id: the id of the tool call it answers"
            )
        if self.content is None and not self.tool_calls and self.role != "assistant":
            raise ValueError(f"a {self.role!r} message needs content (a string)")


class ToolFailure(str, enum.Enum):
    """Why a tool call produced no result (the `tool` message then says so to the model)."""

    #: The model named a tool that is not registered.
    UNKNOWN_TOOL = "unknown_tool"
    #: The arguments text was longer than the registry's limit.
    TOO_LARGE = "too_large"
    #: The arguments text was not valid JSON (or not a JSON object).
    INVALID_JSON = "invalid_json"
    #: The arguments did not match the tool's JSON Schema.
    INVALID_ARGUMENTS = "invalid_arguments"
    #: The tool raised an exception (or returned something that is not JSON).
    EXCEPTION = "exception"
    #: The tool did not finish within its timeout.
    TIMEOUT = "timeout"
    #: The run was cancelled before the tool finished.
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class ToolResult(Message):
    """The ``tool`` message answering one tool call, with how the call went.

    It is a `Message` (role ``tool``) and goes into the transcript as one; the
    extra fields stay local and are never sent.

    Attributes:
        failure: Why the call failed, or None when the tool ran and returned.
        duration: Seconds from receiving the call to having its answer.
        value: What the tool returned (before it was turned into text), or None.
    """

    failure: ToolFailure | None = None
    duration: float = 0.0
    value: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts; each is None when the service reports it as unknown (-1).

    Attributes:
        prompt_tokens: Tokens in the request, or None.
        completion_tokens: Tokens in the answer, or None.
        total_tokens: Their sum, or None.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@attrs.frozen(kw_only=True)
class Choice:
    """One answer of a completion.

    Attributes:
        index: The choice's position.
        message: The assistant message.
        finish_reason: ``stop``, ``tool_calls``, ``length``…, or None.
    """

    message: Message
    index: int = 0
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class ChatCompletion:
    """A whole (non-streamed or assembled) chat completion.

    Attributes:
        id: The completion id.
        object: ``"chat.completion"``.
        created: Unix time of creation.
        model: The model or pathway that answered.
        choices: The answers; the service sends one.
        usage: Token counts, when sent.
        session_id: The session this turn belongs to: the ``X-Session-ID``
            response header, else the body's ``session_id``.
    """

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: tuple[Choice, ...] = attrs.field(default=(), converter=_tuple)
    usage: Usage | None = None
    session_id: str | None = None


@attrs.frozen(kw_only=True)
class ToolCallDelta:
    """A fragment of a tool call in a stream, keyed by `index`.

    The wire form nests `name` and `arguments` under ``function``; here they
    are flat.

    Attributes:
        index: Which tool call this fragment belongs to (None if the server
            leaves it out; `id` keys the call then).
        id: The call id, on the first fragment.
        type: ``"function"``, on the first fragment.
        name: The tool name, on the first fragment.
        arguments: A piece of the JSON arguments text.
    """

    index: int | None = None
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str | None = None


@attrs.frozen(kw_only=True)
class Delta:
    """What one chunk adds to a choice.

    Attributes:
        role: The role, usually on the first chunk only, as sent (the assembled
            message gets ``assistant`` when this role could not make a valid one).
        content: A piece of the text (a server's list of content parts, joined).
        tool_calls: Fragments of tool calls.
    """

    role: str | None = None
    content: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] | None = attrs.field(
        default=None, converter=_tuple_or_none
    )


@attrs.frozen(kw_only=True)
class ChunkChoice:
    """One choice's part of a stream chunk.

    Attributes:
        index: The choice's position.
        delta: What this chunk adds.
        finish_reason: Set on the choice's last chunk.
    """

    index: int = 0
    delta: Delta = Delta()
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class ChatCompletionChunk:
    """One streamed ``chat.completion.chunk`` event.

    Attributes:
        id: The completion id.
        object: ``"chat.completion.chunk"``.
        created: Unix time of creation.
        model: The model or pathway that answers.
        choices: The choices this chunk adds to.
        usage: Token counts, usually only on the last chunk.
        session_id: The session, when the chunk carries it.
    """

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: tuple[ChunkChoice, ...] = attrs.field(default=(), converter=_tuple)
    usage: Usage | None = None
    session_id: str | None = None


@attrs.frozen(kw_only=True)
class SessionCreated:
    """The answer to `client.sessions.create`.

    Attributes:
        session_id: The session's id.
        pathway_id: The pathway the session runs.
    """

    session_id: str
    pathway_id: str | None = None


def _dicts(value: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(dict(item) for item in value)


@attrs.frozen(kw_only=True)
class SessionState:
    """The answer to `client.sessions.get`.

    Attributes:
        session_id: The session's id.
        variables: The pathway variables.
        messages: The session's history as the service keeps it: dicts with at
            least ``role`` and ``content``, kept as sent (a session's history may
            hold roles and fields a chat request never uses).
    """

    session_id: str
    variables: Mapping[str, Any] = attrs.field(factory=dict)
    messages: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_dicts)


@attrs.frozen(kw_only=True)
class SessionEnded:
    """The answer to `client.sessions.end`.

    Attributes:
        success: Whether the service ended the session.
        session_id: The session's id.
        message: The service's words about it.
    """

    success: bool
    session_id: str
    message: str | None = None
