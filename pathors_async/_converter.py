"""The private cattrs converter: wire JSON <-> models.

One `cattrs.Converter` (never the global one) with hooks for the places where
the wire shape and the models differ: usage counts of -1 mean unknown (None),
stream tool-call fragments nest ``function`` on the wire, session answers use
camelCase, and outgoing messages leave out fields that are None. Unknown fields
sent by a server are ignored.

User input (messages given as dicts) goes through `to_messages`, which checks
each field and says exactly which message is wrong and how.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    SessionCreated,
    SessionEnded,
    SessionState,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "ResponseShapeError",
    "converter",
    "structure",
    "to_messages",
    "unstructure",
    "unstructure_messages",
]

T = TypeVar("T")

MESSAGE_FIELDS: Final = ("role", "content", "name", "tool_calls", "tool_call_id")


class ResponseShapeError(ValueError):
    """A server's JSON did not have the shape of the model it should be."""


converter: Final = cattrs.Converter(forbid_extra_keys=False)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _structure_usage(data: Mapping[str, Any], _: object) -> Usage:
    return Usage(
        prompt_tokens=_count(data.get("prompt_tokens")),
        completion_tokens=_count(data.get("completion_tokens")),
        total_tokens=_count(data.get("total_tokens")),
    )


def _structure_function_call(data: Mapping[str, Any], _: object) -> FunctionCall:
    arguments = data.get("arguments")
    if arguments is None:
        arguments = "{}"
    elif not isinstance(arguments, str):
        # Some OpenAI-compatible servers send an object; keep it, as JSON text.
        arguments = json.dumps(arguments, ensure_ascii=False)
    return FunctionCall(name=data["name"], arguments=arguments)


def _structure_server_message(data: Mapping[str, Any], _: object) -> Message:
    tool_calls = data.get("tool_calls")
    return Message(
        role=data.get("role") or "assistant",
        content=_optional_str(data.get("content")),
        name=_optional_str(data.get("name")),
        tool_calls=converter.structure(tool_calls, tuple[ToolCall, ...]) if tool_calls else None,
        tool_call_id=_optional_str(data.get("tool_call_id")),
    )


def _structure_tool_call_delta(data: Mapping[str, Any], _: object) -> ToolCallDelta:
    function = data.get("function") or {}
    index = data.get("index")
    return ToolCallDelta(
        index=index if isinstance(index, int) else None,
        id=_optional_str(data.get("id")),
        type=_optional_str(data.get("type")),
        name=_optional_str(function.get("name")),
        arguments=_optional_str(function.get("arguments")),
    )


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _structure_chunk_choice(data: Mapping[str, Any]) -> ChunkChoice:
    delta = data.get("delta") or {}
    tool_calls = delta.get("tool_calls")
    return ChunkChoice(
        index=_int_or_zero(data.get("index")),
        delta=Delta(
            role=_optional_str(delta.get("role")),
            content=_optional_str(delta.get("content")),
            tool_calls=None
            if tool_calls is None
            else [_structure_tool_call_delta(call, None) for call in tool_calls],
        ),
        finish_reason=_optional_str(data.get("finish_reason")),
    )


def _structure_chunk(data: Mapping[str, Any], _: object) -> ChatCompletionChunk:
    """Build a chunk by hand: this runs once per streamed event, so it skips the generic path."""
    usage = data.get("usage")
    return ChatCompletionChunk(
        id=_optional_str(data.get("id")) or "",
        object=_optional_str(data.get("object")) or "chat.completion.chunk",
        created=_int_or_zero(data.get("created")),
        model=_optional_str(data.get("model")) or "",
        choices=[_structure_chunk_choice(choice) for choice in data.get("choices") or ()],
        usage=_structure_usage(usage, None) if usage else None,
        session_id=_optional_str(data.get("session_id")),
    )


def _unstructure_tool_call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    if delta.index is not None:
        wire["index"] = delta.index
    if delta.id is not None:
        wire["id"] = delta.id
    if delta.type is not None:
        wire["type"] = delta.type
    function = {
        key: value
        for key, value in (("name", delta.name), ("arguments", delta.arguments))
        if value is not None
    }
    if function:
        wire["function"] = function
    return wire


def _structure_session_state(data: Mapping[str, Any], _: object) -> SessionState:
    state = data.get("state") or {}
    return SessionState(
        session_id=data["sessionId"],
        variables=dict(state.get("variables") or {}),
        messages=[item for item in state.get("messages") or () if isinstance(item, Mapping)],
    )


def _unstructure_session_state(state: SessionState) -> dict[str, Any]:
    return {
        "sessionId": state.session_id,
        "state": {
            "variables": dict(state.variables),
            "messages": [dict(message) for message in state.messages],
        },
    }


converter.register_structure_hook(Usage, _structure_usage)
converter.register_structure_hook(FunctionCall, _structure_function_call)
converter.register_structure_hook(Message, _structure_server_message)
converter.register_structure_hook(ToolCallDelta, _structure_tool_call_delta)
converter.register_unstructure_hook(ToolCallDelta, _unstructure_tool_call_delta)
converter.register_structure_hook(ChatCompletionChunk, _structure_chunk)


_SESSION_ID = override(rename="sessionId")
_PATHWAY_ID = override(rename="pathwayId")
converter.register_structure_hook(
    SessionCreated,
    make_dict_structure_fn(
        SessionCreated, converter, session_id=_SESSION_ID, pathway_id=_PATHWAY_ID
    ),
)
converter.register_unstructure_hook(
    SessionCreated,
    make_dict_unstructure_fn(
        SessionCreated, converter, session_id=_SESSION_ID, pathway_id=_PATHWAY_ID
    ),
)
converter.register_structure_hook(
    SessionEnded, make_dict_structure_fn(SessionEnded, converter, session_id=_SESSION_ID)
)
converter.register_unstructure_hook(
    SessionEnded, make_dict_unstructure_fn(SessionEnded, converter, session_id=_SESSION_ID)
)
converter.register_structure_hook(SessionState, _structure_session_state)
converter.register_unstructure_hook(SessionState, _unstructure_session_state)
converter.register_unstructure_hook(
    Message, make_dict_unstructure_fn(Message, converter, _cattrs_omit_if_default=True)
)


def structure(data: Any, cls: type[T]) -> T:  # noqa: ANN401 - JSON is Any by nature
    """Build a model from decoded JSON.

    Args:
        data: The decoded JSON value.
        cls: The model class.

    Returns:
        The model.

    Raises:
        ResponseShapeError: The data does not have the model's shape; the
            message lists each problem with its path.
    """
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path=cls.__name__))
        raise ResponseShapeError(problems) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResponseShapeError(f"{cls.__name__}: {exc!r}") from exc


def unstructure(model: object) -> Any:  # noqa: ANN401 - JSON is Any by nature
    """Turn a model into plain JSON-ready data (the wire shape).

    Args:
        model: Any model instance.

    Returns:
        Dicts, lists, strings, numbers and None.
    """
    return converter.unstructure(model)


def unstructure_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Turn messages into their wire dicts, leaving out fields that are None.

    Args:
        messages: The messages.

    Returns:
        One dict per message.
    """
    unstructure_message = converter.get_unstructure_hook(Message)
    return [unstructure_message(message) for message in messages]


def _tool_calls_from_input(value: object, where: str) -> tuple[ToolCall, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{where}.tool_calls must be a list of tool calls")
    calls = []
    for position, call in enumerate(value):
        if isinstance(call, ToolCall):
            calls.append(call)
            continue
        function = call.get("function") if isinstance(call, Mapping) else None
        if (
            not isinstance(call, Mapping)
            or not isinstance(call.get("id"), str)
            or not isinstance(function, Mapping)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments", "{}"), str)
        ):
            raise TypeError(
                f"{where}.tool_calls[{position}] must look like "
                '{"id": "call_1", "type": "function", "function": '
                '{"name": "...", "arguments": "<JSON text>"}} (arguments is a string: use '
                "json.dumps)"
            )
        calls.append(
            ToolCall(
                id=call["id"],
                type=call.get("type", "function"),
                function=FunctionCall(
                    name=function["name"], arguments=function.get("arguments", "{}")
                ),
            )
        )
    return tuple(calls)


def _message_from_input(value: object, where: str) -> Message:
    if isinstance(value, Message):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict or a Message, not {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in MESSAGE_FIELDS)
    if unknown:
        raise ValueError(
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"a message takes: {', '.join(MESSAGE_FIELDS)}"
        )
    if "role" not in value:
        raise ValueError(f"{where} has no 'role'; e.g. {{'role': 'user', 'content': 'Hi'}}")
    for field in ("role", "content", "name", "tool_call_id"):
        item = value.get(field)
        if item is not None and not isinstance(item, str):
            raise TypeError(f"{where}.{field} must be a string, not {type(item).__name__}")
    try:
        return Message(
            role=value["role"],
            content=value.get("content"),
            name=value.get("name"),
            tool_calls=_tool_calls_from_input(value.get("tool_calls"), where),
            tool_call_id=value.get("tool_call_id"),
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def to_messages(messages: object) -> list[Message]:
    """Check user-given messages and turn them into `Message` objects.

    Args:
        messages: A non-empty list (or tuple) of dicts and/or `Message`.

    Returns:
        The messages, as `Message` objects, in order.

    Raises:
        TypeError: `messages` is not a list, or an item or field has the wrong type.
        ValueError: The list is empty, or a message is invalid (unknown role or
            field, a tool message without ``tool_call_id``…).
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(
            "messages must be a list of messages, e.g. [{'role': 'user', 'content': 'Hi'}], "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise ValueError("messages is empty; send at least one, e.g. a user message")
    return [_message_from_input(item, f"messages[{i}]") for i, item in enumerate(messages)]


def chunk_from_json(data: object) -> ChatCompletionChunk:
    """Build a `ChatCompletionChunk` from one decoded stream event.

    Args:
        data: The decoded JSON of the event's data.

    Returns:
        The chunk.

    Raises:
        ResponseShapeError: The data is not a chat completion chunk.
    """
    if not isinstance(data, dict):
        raise ResponseShapeError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return _structure_chunk(data, None)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ResponseShapeError(f"ChatCompletionChunk: {exc!r}") from exc


def completion_from_json(data: object, *, session_id: str | None) -> ChatCompletion:
    """Build a `ChatCompletion` from a decoded response body.

    Args:
        data: The decoded JSON body.
        session_id: The ``X-Session-ID`` response header, which wins over the body.

    Returns:
        The completion.

    Raises:
        ResponseShapeError: The body is not a chat completion.
    """
    if not isinstance(data, dict):
        raise ResponseShapeError(f"expected a JSON object, got {type(data).__name__}")
    if session_id:
        data["session_id"] = session_id
    return structure(data, ChatCompletion)
