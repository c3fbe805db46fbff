import attrs
import pytest

from pathors_async import (
    ChatCompletion,
    ChatCompletionChunk,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
)


def test_models_are_frozen_slotted_and_keyword_only():
    message = Message(role="user", content="hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.content = "changed"  # type: ignore[misc]
    assert not hasattr(message, "__dict__")
    with pytest.raises(TypeError):
        Message("user", "hi")  # type: ignore[misc]


def test_tool_calls_given_as_a_list_are_stored_as_a_tuple():
    call = ToolCall(id="call_1", function=FunctionCall(name="f", arguments="{}"))
    message = Message(role="assistant", tool_calls=[call])
    assert message.tool_calls == (call,)
    assert hash(message) == hash(Message(role="assistant", tool_calls=(call,)))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"role": "usr", "content": "x"}, "unknown message role 'usr'; use one of: assistant, "),
        ({"role": "tool", "content": "x"}, "a 'tool' message needs tool_call_id"),
        ({"role": "user"}, "a 'user' message needs content"),
        ({"role": "tool", "tool_call_id": "c"}, "a 'tool' message needs content"),
    ],
)
def test_invalid_messages_say_what_is_wrong(kwargs, expected):
    with pytest.raises(ValueError, match="^" + expected.replace("(", r"\(")):
        Message(**kwargs)


def test_assistant_message_may_carry_only_tool_calls_or_nothing():
    assert Message(role="assistant").content is None


def test_defaults_tolerate_sparse_servers():
    assert ChatCompletion().choices == ()
    assert ChatCompletionChunk().object == "chat.completion.chunk"
    assert Delta().tool_calls is None


def test_a_tool_call_needs_an_id():
    with pytest.raises(ValueError, match=r"^a tool call needs an id"):
        ToolCall(id="", function=FunctionCall(name="f", arguments="{}"))
