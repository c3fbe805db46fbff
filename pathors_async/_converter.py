"""The private cattrs converter: wire JSON <-> models.

One `cattrs.Converter` (never the global one). Server JSON is structured by the
hand-written functions of `_decode` (registered here as hooks), which say where
a value is out of shape, join text parts, generate missing tool-call ids and
replace lone surrogates; unknown fields are ignored, usage counts of -1 mean
unknown (None). Unstructuring: stream tool-call fragments nest ``function`` on
the wire, session answers use camelCase, and outgoing messages leave out fields
that are None.

User input (messages given as dicts) goes through `to_messages`, which checks
each field and says exactly which message is wrong and how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from . import _decode
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
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
from ._untrusted import ResponseShapeError, checked_session_id, clean_json, clean_text

__all__ = [
    "ResponseShapeError",
    "chunk_from_json",
    "completion_from_json",
    "converter",
    "structure",
    "to_messages",
    "unstructure",
    "unstructure_messages",
]

T = TypeVar("T")

MESSAGE_FIELDS: Final = ("role", "content", "name", "tool_calls", "tool_call_id")

converter: Final = cattrs.Converter(forbid_extra_keys=False)


def _required_session_id(data: Mapping[str, Any]) -> str:
    value = checked_session_id(data.get("sessionId"), "sessionId")
    if value is None:
        raise ResponseShapeError("is missing", "sessionId")
    return value


def _optional_text(value: object) -> str | None:
    return clean_text(value) if isinstance(value, str) else None


def _structure_session_created(data: object, _: object) -> SessionCreated:
    fields = _object(data)
    return SessionCreated(
        session_id=_required_session_id(fields), pathway_id=_optional_text(fields.get("pathwayId"))
    )


def _structure_session_ended(data: object, _: object) -> SessionEnded:
    fields = _object(data)
    success = fields.get("success")
    if not isinstance(success, bool):
        raise ResponseShapeError("must be true or false", "success")
    return SessionEnded(
        success=success,
        session_id=_required_session_id(fields),
        message=_optional_text(fields.get("message")),
    )


def _structure_session_state(data: object, _: object) -> SessionState:
    fields = _object(data)
    state = fields.get("state") or {}
    if not isinstance(state, dict):
        raise ResponseShapeError("must be a JSON object", "state")
    variables = state.get("variables") or {}
    if not isinstance(variables, dict):
        raise ResponseShapeError("must be a JSON object", "state.variables")
    messages = state.get("messages") or []
    if not isinstance(messages, list):
        raise ResponseShapeError("must be a list", "state.messages")
    return SessionState(
        session_id=_required_session_id(fields),
        variables=clean_json(variables),
        messages=[clean_json(item) for item in messages if isinstance(item, dict)],
    )


def _object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ResponseShapeError("must be a JSON object")
    return data


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


def _unstructure_session_state(state: SessionState) -> dict[str, Any]:
    return {
        "sessionId": state.session_id,
        "state": {
            "variables": dict(state.variables),
            "messages": [dict(message) for message in state.messages],
        },
    }


# Every model is built from server JSON by a hand-written function (see `_decode`).
_STRUCTURE: Final[dict[type, Callable[[Any, Any], Any]]] = {
    ChatCompletion: lambda data, _: _decode.completion(data),
    Choice: lambda data, _: _decode.completion_choice(data),
    Message: lambda data, _: _decode.message(data),
    ToolCall: lambda data, _: _decode.tool_call(data),
    FunctionCall: lambda data, _: _decode.function_call(data),
    Usage: lambda data, _: _decode.usage(_object(data)),
    ChatCompletionChunk: lambda data, _: _decode.chunk(data),
    ChunkChoice: lambda data, _: _decode.chunk_choice(data),
    Delta: lambda data, _: _decode.delta(data),
    ToolCallDelta: lambda data, _: _decode.tool_call_delta(data),
    SessionCreated: _structure_session_created,
    SessionEnded: _structure_session_ended,
    SessionState: _structure_session_state,
}
for _cls, _hook in _STRUCTURE.items():
    converter.register_structure_hook(_cls, _hook)

converter.register_unstructure_hook(ToolCallDelta, _unstructure_tool_call_delta)
_SESSION_ID = override(rename="sessionId")
converter.register_unstructure_hook(
    SessionCreated,
    make_dict_unstructure_fn(
        SessionCreated, converter, session_id=_SESSION_ID, pathway_id=override(rename="pathwayId")
    ),
)
converter.register_unstructure_hook(
    SessionEnded, make_dict_unstructure_fn(SessionEnded, converter, session_id=_SESSION_ID)
)
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
            message names the place, e.g. ``ChatCompletion.choices[0].message``.
    """
    try:
        return converter.structure(data, cls)
    except ResponseShapeError as exc:
        raise exc.within(cls.__name__) from None
    except RecursionError:
        raise ResponseShapeError("is nested too deeply", cls.__name__) from None
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
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
        if not call["id"]:
            raise ValueError(
                f"tool_calls[{position}].id is empty: give every tool call an id "
                '(such as "call_1"); the tool message answering it repeats it'
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
    if type(messages) is not list and (  # a list is the usual case: no ABC checks for it
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise TypeError(
            "messages must be a list of messages, e.g. [{'role': 'user', 'content': 'Hi'}], "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise ValueError("messages is empty; send at least one, e.g. a user message")
    return [_message_from_input(item, f"messages[{i}]") for i, item in enumerate(messages)]


def chunk_from_json(data: object) -> ChatCompletionChunk:
    """Build a `ChatCompletionChunk` from one decoded stream event.

    Text parts are joined, lone surrogates replaced, unknown fields ignored
    (see `_decode`).

    Args:
        data: The decoded JSON of the event's data.

    Returns:
        The chunk.

    Raises:
        ResponseShapeError: The data is not a chat completion chunk; the
            message names the place, e.g. ``choices[0].delta.tool_calls[0]``.
    """
    try:
        return _decode.chunk(data)
    except RecursionError:
        raise ResponseShapeError("is nested too deeply") from None


def completion_from_json(data: object, *, session_id: str | None) -> ChatCompletion:
    """Build a `ChatCompletion` from a decoded response body (which is not changed).

    Text parts are joined, tool calls without id get a stable generated one,
    lone surrogates are replaced, unknown fields ignored (see `_decode`).

    Args:
        data: The decoded JSON body.
        session_id: The ``X-Session-ID`` response header, which wins over the body.

    Returns:
        The completion.

    Raises:
        ResponseShapeError: The body is not a chat completion (no ``choices``
            list, e.g. ``{}`` or ``{"error": ...}``), or a part of it is out of
            shape; the message names the place, e.g.
            ``choices[0].message.tool_calls[0].function.name``.
    """
    try:
        return _decode.completion(data, header_session_id=session_id)
    except RecursionError:
        raise ResponseShapeError("is nested too deeply") from None
