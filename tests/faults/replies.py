"""Raw replies for the cases the emulator cannot produce, and checks of what they give."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pathors_async.testing import Reply, ScriptedToolCall
from tests.rawserver import head

from .case import (
    DONE,
    TEXT_EVENTS,
)
from .conftest import (
    FAULT_KEY,
    JSON_HEADERS,
    TEXT,
    always,
    answer,
    by_mode,
    chunk,
    completion,
    events,
    reply_events,
    whole,
)


def message_of(value: Any) -> Any:
    return value.choices[0].message if hasattr(value, "choices") else value.messages[-1]


def check_content(expected: str) -> Callable[[str, Any], None]:
    def check(_: str, value: Any) -> None:
        assert message_of(value).content == expected

    return check


def check_tool_answer(op: str, value: Any) -> None:
    """The answer was a call to lookup(city="Bergen") with a generated id, answered by the agent."""
    if op in ("create", "stream"):
        (call,) = value.choices[0].message.tool_calls
        assert call.id.startswith("call_0_")
        assert call.function.arguments == '{"city": "Bergen"}'
        return
    calls = value.messages[-3].tool_calls
    assert [m.role for m in value.messages[-3:]] == ["assistant", "tool", "assistant"]
    assert value.messages[-2].tool_call_id == calls[0].id
    assert calls[0].id.startswith("call_0_")
    assert value.messages[-2].content == "sunny in Bergen"


def check_two_calls(op: str, value: Any) -> None:
    if op == "stream":
        calls = value.choices[0].message.tool_calls
    else:
        calls = value.messages[-4].tool_calls
        assert [m.tool_call_id for m in value.messages[-3:-1]] == ["a", "b"]
        assert [m.content for m in value.messages[-3:-1]] == ["sunny in Oslo", "sunny in Rome"]
    assert [(c.id, c.function.arguments) for c in calls] == [
        ("a", '{"city": "Oslo"}'),
        ("b", '{"city": "Rome"}'),
    ]


def check_surrogates(op: str, value: Any) -> None:
    if op in ("create", "stream"):
        message = value.choices[0].message
        assert message.content == "Sunny\ufffd"
        assert message.tool_calls[0].function.arguments == '{"city": "Os\ufffdlo"}'
        return
    # The transcript held the replaced text and was sent again: turn 3 answered.
    assert value.messages[-3].content == "Sunny\ufffd"
    assert value.messages[-2].content == "sunny in Os\ufffdlo"
    assert value.output == TEXT


def check_role(op: str, value: Any) -> None:
    assert message_of(value).role == "assistant"
    assert message_of(value).content == TEXT


def tool_call_without_id() -> Callable[[Any], Any]:
    call = {"type": "function", "function": {"name": "lookup", "arguments": '{"city": "Bergen"}'}}
    return by_mode(
        whole_reply=[
            whole(completion({"role": "assistant", "content": None, "tool_calls": [call]}))
        ],
        streamed_reply=[
            *events(
                json.dumps(chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]})),
                json.dumps(chunk({}, "tool_calls")),
            ),
            DONE,
        ],
    )


def two_calls_on_one_index() -> Callable[[Any], Any]:
    def call(call_id: str, city: str) -> dict[str, Any]:
        arguments = json.dumps({"city": city})
        function = {"name": "lookup", "arguments": arguments}
        return {"index": 0, "id": call_id, "type": "function", "function": function}

    return always(
        *events(
            json.dumps(chunk({"role": "assistant", "tool_calls": [call("a", "Oslo")]})),
            json.dumps(chunk({"tool_calls": [call("b", "Rome")]})),
            json.dumps(chunk({}, "tool_calls")),
        ),
        DONE,
    )


def surrogates() -> Callable[[Any], Any]:
    reply = Reply(
        content="Sunny\ud800",
        tool_calls=(ScriptedToolCall(name="lookup", arguments='{"city": "Os\ud800lo"}', id="s1"),),
    )
    return answer(reply)


def odd_role() -> Callable[[Any], Any]:
    first, *rest = TEXT_EVENTS
    first = first.replace('"role": "assistant"', '"role": "model"')
    return by_mode(
        whole_reply=[whole(completion({"role": "model", "content": TEXT}))],
        streamed_reply=[*events(first, *rest), DONE],
    )


def list_content() -> Callable[[Any], Any]:
    parts = [{"type": "text", "text": "Sunny and mild "}, {"type": "text", "text": "in Oslo today"}]
    return by_mode(
        whole_reply=[whole(completion({"role": "assistant", "content": parts}))],
        streamed_reply=[
            *events(
                json.dumps(chunk({"role": "assistant", "content": parts[:1]})),
                json.dumps(chunk({"content": parts[1:]})),
                json.dumps(chunk({}, "stop")),
            ),
            DONE,
        ],
    )


def bad_session_header(raw_line: bytes) -> Callable[[Any], Any]:
    def reply(request: Any) -> list[Any]:
        streamed_reply = answer(Reply(content=TEXT))(request)
        first = streamed_reply[0]
        return [
            first.replace(b"\r\n\r\n", b"\r\n" + raw_line + b"\r\n\r\n", 1),
            *streamed_reply[1:],
        ]

    return reply


def bad_session_body(session_id: str) -> Callable[[Any], Any]:
    message = {"role": "assistant", "content": TEXT}
    return by_mode(
        whole_reply=[whole(completion(message, session_id=session_id))],
        streamed_reply=[
            *events(json.dumps(chunk(message, "stop", session_id=session_id))),
            DONE,
        ],
    )


def cut_body(step: Any) -> Callable[[Any], Any]:
    partial_head = head(200, {**JSON_HEADERS, "Content-Length": "500"}) + b'{"id": "c'
    return by_mode(
        whole_reply=[partial_head, step],
        streamed_reply=[*events(*TEXT_EVENTS[:3]), step],
    )


def broken_error_body(status_code: int, step: Any) -> Callable[[Any], Any]:
    """An error status whose JSON body stops short of its length, then `step`."""
    start = head(status_code, {**JSON_HEADERS, "Content-Length": "200"})
    return always(start + f'{{"error": "echo {FAULT_KEY}'.encode(), step)


def system_calling_a_tool() -> Callable[[Any], Any]:
    reply = Reply(
        tool_calls=(ScriptedToolCall(name="lookup", arguments='{"city": "Bergen"}', id="sys1"),)
    )
    first, *rest = reply_events(reply)
    message = {**reply.message(), "role": "system"}
    return by_mode(
        whole_reply=[whole(completion(message))],
        streamed_reply=[
            *events(first.replace('"role": "assistant"', '"role": "system"'), *rest),
            DONE,
        ],
    )


def check_system_role(op: str, value: Any) -> None:
    message = value.choices[0].message if op in ("create", "stream") else value.messages[-3]
    assert message.role == "assistant"
    assert [call.id for call in message.tool_calls] == ["sys1"]
    if op not in ("create", "stream"):  # answered, and the transcript was sent again
        assert value.messages[-2].tool_call_id == "sys1"
        assert value.output == TEXT
