"""What the emulator answers: scripted replies and the deterministic default responder.

The default responder is not a model and says so. It follows three rules:

1. After tool results, it answers with them.
2. With tools offered and a user message last, it calls the tool whose name and
   description share the most words with the user's message, filling the
   arguments from the tool's JSON Schema and the message's words.
3. Otherwise it echoes the user's words, marked as the emulator's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

__all__ = ["ChatRequest", "Reply", "ScriptedToolCall", "arguments_for", "default_reply"]

SCRIPTED: Final = "(FakePathors emulator, not a model)"

_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")
_STOP_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "be",
        "can",
        "do",
        "does",
        "for",
        "from",
        "get",
        "give",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "set",
        "show",
        "the",
        "to",
        "what",
        "whats",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
    ]
)


@attrs.frozen(kw_only=True)
class ScriptedToolCall:
    """A tool call the emulator will make.

    Attributes:
        name: The tool's name.
        arguments: The JSON arguments text, exactly as it will be sent (it may
            be invalid JSON on purpose).
        id: The call id.
    """

    name: str
    arguments: str
    id: str


@attrs.frozen(kw_only=True)
class Reply:
    """One answer of the emulator: text, tool calls, or both.

    Attributes:
        content: The assistant's text (None when it only calls tools).
        tool_calls: The tool calls.
        finish_reason: ``"stop"``, ``"tool_calls"``, ``"length"``…; by default
            ``"tool_calls"`` when there are tool calls, else ``"stop"``.
    """

    content: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    finish_reason: str = attrs.field()

    @finish_reason.default
    def _finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def message(self) -> dict[str, Any]:
        """Return the assistant message in wire form."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


@attrs.frozen(kw_only=True)
class ChatRequest:
    """What a responder sees of one chat-completions request.

    Attributes:
        messages: The session's whole history, this request's messages included
            (wire dicts).
        tools: The tool definitions offered.
        session_id: The session id.
        body: The whole request body.
    """

    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    session_id: str
    body: Mapping[str, Any]


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS}


def _tool_words(tool: Mapping[str, Any]) -> set[str]:
    function = tool.get("function", {})
    name = str(function.get("name", ""))
    return _words(name.replace("_", " ").replace("-", " ")) | _words(
        str(function.get("description", ""))
    )


def best_tool(text: str, tools: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Pick the tool sharing the most words with `text` (the first on a tie).

    Args:
        text: The user's message.
        tools: The tool definitions.

    Returns:
        The chosen definition, or None when no tool shares a word.
    """
    words = _words(text)
    best: Mapping[str, Any] | None = None
    best_score = 0
    for tool in tools:
        score = len(words & _tool_words(tool))
        if score > best_score:
            best, best_score = tool, score
    return best


def _guess_text(text: str) -> str:
    """Guess a string argument: capitalised words after the first, else the last word."""
    words = _WORD.findall(text)
    proper = [word for word in words[1:] if word[:1].isupper()]
    if proper:
        return " ".join(proper)
    return words[-1] if words else text


def arguments_for(schema: Mapping[str, Any], text: str) -> Any:  # noqa: ANN401, PLR0911
    """Make a value that fits `schema`, taking what it can from `text`.

    Args:
        schema: A JSON Schema (the subset tool definitions use).
        text: The user's message.

    Returns:
        A JSON value valid for the schema.
    """
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        options = [option for option in schema.get(keyword, ()) if option.get("type") != "null"]
        if options:
            return arguments_for(options[0], text)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "null")
    numbers = _NUMBER.findall(text)
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: arguments_for(properties.get(name, {}), text)
            for name in schema.get("required", ())
        }
    if kind == "array":
        return [arguments_for(schema.get("items", {}), text)] * int(schema.get("minItems", 0))
    if kind == "integer":
        return int(float(numbers[0])) if numbers else 1
    if kind == "number":
        return float(numbers[0]) if numbers else 1.0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _guess_text(text)


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def default_reply(request: ChatRequest, next_call_id: Callable[[], str]) -> Reply:
    """Answer like the emulator does when nothing is scripted.

    Args:
        request: The request, with the session's whole history.
        next_call_id: A callable returning a fresh tool call id.

    Returns:
        The reply.
    """
    history = request.messages
    last = history[-1]
    if last.get("role") == "tool":
        results = []
        for message in reversed(history):
            if message.get("role") != "tool":
                break
            name = message.get("name") or message.get("tool_call_id")
            results.append(f"{name}: {_text(message)}")
        return Reply(content=f"{SCRIPTED} Tool results: {'; '.join(reversed(results))}")
    text = _text(last)
    if request.tools and last.get("role") == "user":
        tool = best_tool(text, request.tools)
        if tool is not None:
            function = tool["function"]
            arguments = arguments_for(function.get("parameters") or {"type": "object"}, text)
            call = ScriptedToolCall(
                name=function["name"],
                arguments=json.dumps(arguments, ensure_ascii=False),
                id=next_call_id(),
            )
            return Reply(tool_calls=(call,))
    return Reply(content=f"{SCRIPTED} You said: {text}")
