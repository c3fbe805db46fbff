"""The encoded JSON body of a chat-completions request, built fast (no I/O).

`encode_chat_body` gives exactly the bytes ``dumps(chat_body(...))`` gives (the
dict built in `_resources` is the reference; a Hypothesis test holds them equal),
with less work per turn:

- each message (a frozen `Message` whose fields are plain ``str``) is checked
  and encoded once, while it lives, and reused on every later turn that sends
  it again (a transcript only grows), without the generic "is every value plain
  JSON?" walk `_json.dumps` does for values of unknown make;
- tool definitions (a `ToolRegistry`'s, or any list of plain dicts) are checked
  and encoded once, then reused while the very same definition objects are
  passed again and still compare equal to what was encoded. A registry builds
  new definitions when a tool is added, so its version is in that identity.

Anything else (an ``extra_body``, messages with non-``str`` fields, definitions
that are not plain JSON) returns None, and the caller takes the reference path.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Final

from ._converter import converter
from ._json import dumps, dumps_plain, is_plain, loads
from ._models import FunctionCall, Message, ToolCall

__all__ = ["encode_chat_body", "encoded_message", "encoded_tools"]

_unstructure_message: Final = converter.get_unstructure_hook(Message)

# id() of a message -> (a weak reference to it, its JSON); the entry goes with the message
_MESSAGES: dict[int, tuple[weakref.ref[Message], bytes]] = {}

#: Most distinct tool lists kept encoded (all are dropped when it is reached).
TOOLS_KEPT: Final = 64

# id() of each definition -> (the definitions, kept alive so the ids stay theirs; what
# was encoded, decoded again, to compare with; the encoded bytes)
_TOOLS: dict[tuple[int, ...], tuple[tuple[object, ...], object, bytes]] = {}


def encoded_tools(definitions: Sequence[object]) -> bytes | None:
    """The JSON of `definitions` (already checked by `tools_payload`), encoded once.

    Returns None when they are not plain JSON (the caller encodes them its own way).
    Equality, not identity, decides a hit past the ids: ``1``, ``1.0`` and ``True``
    compare equal, so a definition edited in place from one to another keeps the
    old spelling; change tools by registering them, not by editing definitions.
    """
    key = tuple(map(id, definitions))
    kept = _TOOLS.get(key)
    if kept is not None and kept[1] == definitions:
        return kept[2]
    if not is_plain(definitions):
        return None
    encoded = dumps(definitions)
    if len(_TOOLS) >= TOOLS_KEPT:
        _TOOLS.clear()
    _TOOLS[key] = (tuple(definitions), loads(encoded), encoded)
    return encoded


def _plain_message(message: object) -> bool:
    """Whether `message` is a `Message` whose text fields are exact ``str`` (or None)."""
    if not isinstance(message, Message) or type(message.role) is not str:
        return False
    for text in (message.content, message.name, message.tool_call_id):
        if text is not None and type(text) is not str:
            return False
    calls: tuple[object, ...] = message.tool_calls or ()  # not checked by attrs
    for call in calls:
        if not isinstance(call, ToolCall) or not isinstance(call.function, FunctionCall):
            return False
        function = call.function
        if (
            type(call.id) is not str
            or type(call.type) is not str
            or type(function.name) is not str
            or type(function.arguments) is not str
        ):
            return False
    return True


def _forget(key: int) -> Callable[[object], None]:
    def forget(_: object) -> None:
        _MESSAGES.pop(key, None)

    return forget


def encoded_message(message: Message) -> bytes | None:
    """The JSON of one message, encoded once for as long as the message lives.

    A transcript only grows, and each turn sends it again: each message is
    checked and encoded on its first turn only. Messages are frozen, so what
    was encoded stays true.

    Returns:
        The JSON, or None when a field is not a plain ``str`` (the caller takes
        the reference path).

    Raises:
        ValueError: The text holds a lone surrogate (as `dumps` raises it).
    """
    key = id(message)
    kept = _MESSAGES.get(key)
    if kept is not None and kept[0]() is message:
        return kept[1]
    if not _plain_message(message):
        return None
    encoded = dumps_plain(_unstructure_message(message))
    _MESSAGES[key] = (weakref.ref(message, _forget(key)), encoded)
    return encoded


def encode_chat_body(
    messages: Sequence[Message],
    definitions: Sequence[object] | None,
    *,
    stream: bool,
    extra_body: object,
) -> bytes | None:
    """The body ``dumps(chat_body(...))`` would give, or None to take that path.

    Args:
        messages: Checked messages (`to_messages`).
        definitions: Checked tool definitions (`tools_payload`), or None.
        stream: The ``stream`` field.
        extra_body: Any ``extra_body`` sends the caller down the reference path.
    """
    if extra_body:
        return None
    try:
        listed = b",".join([_required(encoded_message(message)) for message in messages])
        tools = None if definitions is None else _required(encoded_tools(definitions))
    except (ValueError, _NotPlainError):  # ValueError: a lone surrogate, refused by that path
        return None
    head = b'{"messages":[' + listed + (b'],"stream":true' if stream else b'],"stream":false')
    return head + b"}" if tools is None else head + b',"tools":' + tools + b"}"


class _NotPlainError(Exception):
    """A part that only the reference path encodes exactly."""


def _required(encoded: bytes | None) -> bytes:
    if encoded is None:
        raise _NotPlainError
    return encoded
