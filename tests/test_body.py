"""`_body`: the fast request body equals the reference (`dumps(chat_body(...))`), byte for byte."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pathors_async import FunctionCall, Message, ToolCall, ToolRegistry
from pathors_async._body import _TOOLS, TOOLS_KEPT, encoded_tools
from pathors_async._json import dumps
from pathors_async._resources import chat_body, chat_request_body

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "minimum": 1}},
            "required": ["city"],
        },
    },
}


def reference(messages, tools, stream, extra_body):
    """What the body was before the fast path: the dict, encoded by `dumps`; or the error."""
    try:
        return ("ok", dumps(chat_body(messages, tools, stream=stream, extra_body=extra_body)))
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), str(exc))


def fast(messages, tools, stream, extra_body):
    try:
        json, body = chat_request_body(messages, tools, stream=stream, extra_body=extra_body)
        return ("ok", body if body is not None else dumps(json))
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), str(exc))


texts = st.text(max_size=12) | st.sampled_from(["\ud800", "héllo 台北", 'a"b\\c\n', ""])
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
tool_calls = st.builds(
    ToolCall,
    id=texts.filter(bool),
    function=st.builds(FunctionCall, name=texts, arguments=texts),
    type=st.just("function") | texts,
)


@st.composite
def messages(draw):
    role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool"]))
    calls = draw(st.none() | st.lists(tool_calls, max_size=2)) if role == "assistant" else None
    content = draw(st.none() | texts) if role == "assistant" else draw(texts)
    fields = {
        "role": role,
        "content": content,
        "name": draw(st.none() | texts),
        "tool_calls": calls,
        "tool_call_id": draw(st.text(min_size=1, max_size=5)) if role == "tool" else None,
    }
    if draw(st.booleans()):
        return {key: value for key, value in fields.items() if value is not None}
    return Message(**fields)


definitions = st.lists(
    st.builds(
        lambda name, description, parameters: {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": parameters},
        },
        texts,
        texts,
        json_values,
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(messages(), min_size=1, max_size=4),
    st.none() | definitions,
    st.booleans(),
    st.none() | st.dictionaries(st.sampled_from(["x", "stream", "tools"]), json_values),
)
def test_the_fast_body_is_the_reference_body(messages, tools, stream, extra_body):
    expected = reference(messages, tools, stream, extra_body)
    assert fast(messages, tools, stream, extra_body) == expected
    assert fast(messages, tools, stream, extra_body) == expected  # again: from the cache


def test_a_registry_and_messages_take_the_fast_path():
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Get the weather."""
        return city

    calls = (ToolCall(id="c1", function=FunctionCall(name="get_weather", arguments="{}")),)
    history = [
        Message(role="user", content="Weather?"),
        Message(role="assistant", tool_calls=calls),
        Message(role="tool", tool_call_id="c1", content="sunny"),
    ]
    for _ in range(2):
        json, body = chat_request_body(history, registry, stream=False, extra_body=None)
        assert json is None
        assert body == dumps(chat_body(history, registry, stream=False, extra_body=None))


def test_definitions_edited_in_place_are_encoded_again():
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "old", "parameters": {"type": "object"}},
    }
    before = encoded_tools([tool])
    assert before is not None
    assert b'"old"' in before
    tool["function"]["description"] = "new"
    after = encoded_tools([tool])
    assert after == dumps([tool])
    assert b'"new"' in after


def test_what_is_not_plain_json_is_left_to_the_reference_path():
    nan_tool = {"type": "function", "function": {"name": "f", "x": math.nan}}
    assert encoded_tools([nan_tool]) is None
    user = [Message(role="user", content="hi")]
    assert chat_request_body(user, None, stream=True, extra_body={"x": 1})[1] is None


def test_the_kept_encodings_are_bounded():
    tools = [{"type": "function", "function": {"name": f"t{i}"}} for i in range(TOOLS_KEPT + 5)]
    for tool in tools:
        assert encoded_tools([tool]) == dumps([tool])
    assert len(_TOOLS) <= TOOLS_KEPT


def test_a_message_is_encoded_once_while_it_lives():
    import gc  # noqa: PLC0415

    from pathors_async._body import _MESSAGES, encoded_message  # noqa: PLC0415

    message = Message(role="user", content="Weather in Taipei?")
    first = encoded_message(message)
    assert first == b'{"role":"user","content":"Weather in Taipei?"}'
    assert encoded_message(message) is first  # kept, not encoded again
    key = id(message)
    assert key in _MESSAGES
    del message
    gc.collect()
    assert key not in _MESSAGES  # gone with its message: an id used again starts afresh
    assert encoded_message(Message(role="user", content="x", name=5)) is None  # type: ignore[arg-type]
