"""What the emulator receives: recorded requests, request checks, error bodies, session history."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = [
    "PATHWAY_ID",
    "ROLES",
    "BadRequest",
    "RecordedRequest",
    "Session",
    "check_chat_body",
    "check_tool_answers",
    "error_body",
]

ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool"})
PATHWAY_ID: Final = "pathway-fake"


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the emulator received.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        headers: The request headers (left out of the repr: they hold the key).
        body: The decoded JSON body, or None if there was none or it was not JSON.
        session_id: The ``X-Session-ID`` header, if sent.
        peer: The client's ``host:port``: requests with the same peer came over
            the same (reused) connection.
        received_at: When it arrived (``time.monotonic()``), e.g. to check a rate limit.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: Any
    session_id: str | None
    peer: str | None = None
    received_at: float = attrs.field(factory=time.monotonic)


@attrs.define
class Session:
    """One session the emulator keeps: its pathway, variables and history."""

    pathway_id: str = PATHWAY_ID
    variables: dict[str, Any] = attrs.field(factory=dict)
    messages: list[dict[str, Any]] = attrs.field(factory=list)

    def merged(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The history a request's messages would make (the session is not changed).

        A request that carries a whole transcript (the "send the full
        transcript" style) replaces the history: it starts with the history,
        or it starts with the same first message and has more (a transcript
        that left out a turn the client never received). Any other request
        (the "send only the new messages" style) extends the history.
        """
        known = self.messages
        if not known:
            return list(messages)
        keys = [message_key(new) for new in messages]
        if keys[: len(known)] == [message_key(old) for old in known] or (
            len(messages) > 1 and keys[0] == message_key(known[0])
        ):
            return list(messages)
        return [*known, *messages]


class BadRequest(Exception):  # noqa: N818 - internal control flow, not an error for users
    """A request body the service would refuse with 400; `field` says where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_body(message: str, **details: Any) -> dict[str, Any]:  # noqa: ANN401
    """Build the service's documented error body."""
    return {"error": {"message": message, "details": details}}


def message_key(message: Mapping[str, Any]) -> tuple[Any, ...]:
    """What identifies a message when matching a sent transcript against history."""
    calls = message.get("tool_calls") or ()
    return (
        message.get("role"),
        message.get("content") or "",
        tuple(call.get("id") for call in calls if isinstance(call, Mapping)),
        message.get("tool_call_id"),
    )


def check_messages(messages: object) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise BadRequest("'messages' must be an array", "messages")
    if not messages:
        raise BadRequest("'messages' must not be empty", "messages")
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object", where)
        if message.get("role") not in ROLES:
            raise BadRequest(f"{where}.role must be one of {sorted(ROLES)}", f"{where}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise BadRequest(f"{where}.content must be a string", f"{where}.content")
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise BadRequest(f"{where}.tool_call_id is required", f"{where}.tool_call_id")
    return messages


def check_tools(tools: object) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", "tools")
    for position, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
        ):
            raise BadRequest(
                f"tools[{position}] must be {{type: 'function', function: {{name, ...}}}}",
                f"tools[{position}]",
            )
    return tools


def check_chat_body(body: object) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Check a chat-completions body as the service does.

    Returns:
        The messages and the tool definitions.

    Raises:
        BadRequest: What is wrong, and where.
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", "body")
    if not isinstance(body.get("stream", False), bool):
        raise BadRequest("'stream' must be a boolean", "stream")
    return check_messages(body.get("messages")), check_tools(body.get("tools"))


def _unanswered(calls: Mapping[str, int]) -> BadRequest:
    return BadRequest(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(calls),
        f"messages[{min(calls.values())}].tool_calls",
    )


def _call_ids(message: Mapping[str, Any]) -> list[str]:
    calls = message.get("tool_calls") or ()
    return [call["id"] for call in calls if isinstance(call, Mapping) and "id" in call]


def _check_unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for call_id in ids:
        if call_id in seen:
            raise BadRequest(
                f"Invalid parameter: the 'tool_calls' of {where} use the id {call_id!r} more "
                "than once; each tool call needs its own id.",
                f"{where}.tool_calls",
            )
        seen.add(call_id)


def check_tool_answers(messages: list[dict[str, Any]]) -> None:
    """Check, as OpenAI does, that tool calls and ``tool`` messages pair up.

    Every assistant message with ``tool_calls`` must be followed, before the
    next message that is not a ``tool`` message (or the end), by one ``tool``
    message per call id (the ids unique within the message); every ``tool``
    message must answer a call of the assistant message right before its run
    of ``tool`` messages, once.

    Args:
        messages: The whole transcript (wire dicts, already shape-checked).

    Raises:
        BadRequest: The first problem found, with OpenAI's kind of message.
    """
    waiting: dict[str, int] = {}  # call id -> position of its assistant message
    answered: set[str] = set()
    open_round = False  # inside the run of tool messages after an assistant's calls
    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if message["role"] != "tool":
            if waiting:
                raise _unanswered(waiting)
            ids = _call_ids(message)
            open_round = message["role"] == "assistant" and bool(ids)
            if open_round:
                _check_unique(ids, where)
            waiting = dict.fromkeys(ids, position) if open_round else {}
            answered = set()
            continue
        call_id = message["tool_call_id"]
        if not open_round:
            raise BadRequest(
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceeding message with 'tool_calls'.",
                f"{where}.role",
            )
        if call_id in answered:
            raise BadRequest(
                f"Invalid parameter: 'tool_call_id' of '{call_id}' has already been answered "
                "by an earlier 'tool' message; send one response per tool call.",
                f"{where}.tool_call_id",
            )
        if call_id not in waiting:
            raise BadRequest(
                f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' "
                "of previous message.",
                f"{where}.tool_call_id",
            )
        del waiting[call_id]
        answered.add(call_id)
    if waiting:
        raise _unanswered(waiting)
