"""Rules for values from the network: what is cleaned, generated, normalised or refused.

Small pure functions shared by `_decode` (whole answers and chunks) and
`_accumulator` (streamed answers), so both read the same server text the same
way (DESIGN "Hostile input and bounds"):

- `clean_text`: lone surrogates (which UTF-8 cannot encode) become U+FFFD;
- `generated_call_id`: the stable id of a tool call sent without one;
- `reply_role`: a role that cannot make a valid message becomes ``assistant``;
- `checked_session_id`: a session id that could not be sent back in a header is refused;
- `ResponseShapeError`: the error for JSON out of shape, with the place it is.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from ._ids import LONE_SURROGATES
from ._models import ROLES

__all__ = [
    "ResponseShapeError",
    "checked_session_id",
    "clean_json",
    "clean_text",
    "generated_call_id",
    "kind",
    "reply_role",
]

_UNSENDABLE: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class ResponseShapeError(ValueError):
    """A server's JSON did not have the shape of the model it should be.

    Attributes:
        problem: What is wrong.
        path: Where, e.g. ``choices[0].message.content`` (empty: the whole value).
    """

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(f"{path} {problem}" if path else problem)
        self.problem = problem
        self.path = path

    def within(self, prefix: str) -> ResponseShapeError:
        """Return the same problem, its path prefixed with the enclosing place."""
        if not self.path:
            return ResponseShapeError(self.problem, prefix)
        sep = "" if self.path.startswith("[") else "."
        return ResponseShapeError(self.problem, f"{prefix}{sep}{self.path}")


def kind(value: object) -> str:
    """Name a JSON value's type for an error message ("an object", "null"...)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "?")


def clean_text(value: str) -> str:
    r"""Replace lone surrogates (text UTF-8 cannot encode) with U+FFFD.

    JSON can carry them as ``\ud800`` escapes; left in, the next request that
    sends the text back would raise `UnicodeEncodeError`.

    Args:
        value: A string decoded from JSON.

    Returns:
        The string, unchanged (the same object) when it had none.
    """
    if value.isascii():  # O(1) in CPython: the common case costs nothing
        return value
    try:
        value.encode()  # CPython's UTF-8 encoder: faster than scanning with a regex
    except UnicodeEncodeError:
        return LONE_SURROGATES.sub("\ufffd", value)
    return value


def clean_json(value: Any) -> Any:  # noqa: ANN401 - JSON is Any by nature
    """Return decoded JSON with `clean_text` applied to every string and key."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, dict):
        return {clean_json(key): clean_json(item) for key, item in value.items()}
    return value


def generated_call_id(position: int, completion_id: str, name: str, arguments: str) -> str:
    """Make the id of a tool call sent without one: ``call_<position>_<12 hex digits>``.

    The digits hash the completion id, the name and the arguments, so the same
    completion (whole or streamed, first seen or replayed) always gets the same
    ids, and a `tool` message answering the call keeps matching it.

    Args:
        position: The call's place among the message's tool calls.
        completion_id: The completion's ``id`` ("" when the server sent none).
        name: The tool's name.
        arguments: The arguments text.

    Returns:
        The id.
    """
    seed = "\0".join((completion_id, name, arguments)).encode("utf-8", "surrogatepass")
    return f"call_{position}_{hashlib.sha256(seed).hexdigest()[:12]}"


def reply_role(
    role: object, *, content: str | None, tool_calls: object, tool_call_id: str | None
) -> str:
    """Choose the role of a message received from a server.

    A known role that makes a valid `Message` is kept. Anything else (an
    unknown role such as ``"model"``, none, ``system`` without text, ``tool``
    without ``tool_call_id``, any role but ``assistant`` with tool calls, which
    only an assistant message may carry in a request) becomes ``assistant``: a
    completion's message is the assistant's answer by definition, and its text
    and tool calls are kept.

    Args:
        role: The role the server sent.
        content: The message's text.
        tool_calls: The message's tool calls (only their truth value counts).
        tool_call_id: The message's ``tool_call_id``.

    Returns:
        A role for which the `Message` is valid.
    """
    if role == "assistant" or not isinstance(role, str) or role not in ROLES:
        return "assistant"
    if tool_calls or (role == "tool" and not tool_call_id) or content is None:
        return "assistant"
    return role


def checked_session_id(value: object, path: str = "session_id") -> str | None:
    """Check a session id sent in a body; "" and null mean none.

    Raises:
        ResponseShapeError: It could not be sent back in the ``X-Session-ID``
            header: control characters (CR, LF…), surrounding whitespace, lone
            surrogates, or not a string.
    """
    if isinstance(value, str) and value.isascii() and value.isprintable():
        # The common case, checked fast (once per chunk): printable ASCII has no
        # control characters, and the only whitespace it can hold is " ".
        return value if value and value[0] != " " and value[-1] != " " else _unsendable(value, path)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ResponseShapeError(f"must be a string, not {kind(value)}", path)
    if value != value.strip() or _UNSENDABLE.search(value):
        return _unsendable(value, path)
    return value


def _unsendable(value: str, path: str) -> str | None:
    if not value:
        return None
    raise ResponseShapeError(
        f"{value[:80]!r} has control characters, surrounding whitespace or text UTF-8 "
        "cannot encode: as a session id it could not be sent back in the X-Session-ID "
        "header, so it was refused",
        path,
    )
