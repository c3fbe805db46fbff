"""`to_dict`/`from_dict`: the quick paths give exactly what the converter and the checks give."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathors_async import (
    Agent,
    AsyncPathors,
    Conversation,
    FunctionCall,
    Message,
    ToolCall,
    ToolFailure,
    ToolResult,
)
from pathors_async._converter import to_messages, unstructure_messages
from pathors_async._run import answer_unanswered

FORMAT = {"format": "pathors_async.conversation", "version": 1}


@pytest.fixture(scope="module")
def agent():
    # Never sends: from_dict only needs the agent's settings.
    return Agent(AsyncPathors(api_key="k", project_id="p", base_url="http://127.0.0.1:9"))


text = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.just(["x"]))
function = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=5), st.integers())},
    optional={"arguments": st.one_of(st.just("{}"), st.none(), st.integers())},
)
call = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=3), st.none()), "function": function},
    optional={"type": st.one_of(st.just("function"), st.integers()), "extra": st.integers()},
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "bot", 3])},
    optional={
        "content": text,
        "name": text,
        "tool_call_id": text,
        "tool_calls": st.one_of(st.none(), st.lists(call, max_size=2), st.just("x"), st.just(())),
        "unknown": st.integers(),
    },
)


def outcome(function):
    try:
        return function()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)


@given(st.lists(message, max_size=4))
def test_restoring_gives_exactly_what_the_checks_of_user_input_give(agent, messages):
    def checked():
        # What from_dict did before the quick path: every message checked as user input.
        return to_messages(messages) if messages else []

    expected = outcome(checked)
    if isinstance(expected, list):  # calls left unanswered are answered on load
        expected = answer_unanswered(expected, len(expected))[0]
    restored = outcome(
        lambda: Conversation.from_dict({**FORMAT, "messages": messages}, agent=agent).messages
    )
    assert restored == expected


def test_a_saved_transcript_with_tool_calls_round_trips(agent):
    saved = {
        **FORMAT,
        "server_known": 4,
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": "w", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ],
    }
    conversation = Conversation.from_dict(saved, agent=agent)
    assert conversation.to_dict()["messages"] == saved["messages"]
    assert conversation.messages[2] == Message(
        role="tool", tool_call_id="c1", name="w", content="sunny"
    )


def call_with(**changes):
    call = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
    return {**call, **changes}


@pytest.mark.parametrize(
    "messages",
    [
        ({"role": "user", "content": "a tuple, not a list"},),
        [{"role": "assistant", "tool_calls": ({"id": "c1", "function": {"name": "w"}},)}],
        [{"role": "assistant", "tool_calls": ["not a dict"]}],
        [{"role": "assistant", "tool_calls": [call_with(function="w")]}],
        [{"role": "assistant", "tool_calls": [call_with(id=1)]}],
        [{"role": "assistant", "tool_calls": [call_with(type=1)]}],
        [{"role": "assistant", "tool_calls": [call_with(function={"name": 1})]}],
        [{"role": "assistant", "tool_calls": [call_with(function={"name": "w", "arguments": 1})]}],
        [{"role": "assistant", "tool_calls": [call_with(function={"name": "w"}, extra=1)]}],
        [{"role": "tool", "content": "no tool_call_id"}],
        [{"role": "assistant", "tool_calls": [call_with(id="")]}],
    ],
)
def test_what_to_dict_never_writes_is_restored_or_refused_as_the_checks_say(agent, messages):
    expected = outcome(lambda: answer_unanswered(to_messages(messages), len(messages))[0])
    restored = outcome(
        lambda: Conversation.from_dict({**FORMAT, "messages": messages}, agent=agent).messages
    )
    assert restored == expected


optional_text = st.one_of(st.none(), st.text(max_size=4))
built_calls = st.lists(
    st.builds(
        ToolCall,
        id=st.text(min_size=1, max_size=3),
        function=st.builds(FunctionCall, name=st.text(max_size=3), arguments=st.just("{}")),
    ),
    max_size=2,
)


@st.composite
def any_message(draw):
    kind = draw(st.sampled_from([Message, ToolResult]))
    fields = {
        "role": "tool" if kind is ToolResult else draw(st.sampled_from(["user", "assistant"])),
        "content": draw(optional_text),
        "name": draw(optional_text),
        "tool_call_id": draw(optional_text),
        "tool_calls": draw(st.one_of(st.none(), built_calls)),
    }
    if kind is ToolResult:
        fields["failure"] = draw(st.sampled_from([None, *ToolFailure]))
    try:
        return kind(**fields)
    except ValueError:
        return Message(role="user", content="a valid one instead")


@given(st.lists(any_message(), max_size=5))
def test_to_dict_writes_each_message_as_the_converter_does(agent, messages):
    conversation = Conversation(agent, messages=messages)
    assert conversation.to_dict()["messages"] == unstructure_messages(messages)


def test_a_saved_tool_call_without_an_id_is_refused_saying_where(agent):
    # No tool message can answer it (tool_call_id must not be empty): refused on load,
    # not when the unanswered call is answered with a message that cannot exist.
    saved = {**FORMAT, "messages": [{"role": "assistant", "tool_calls": [call_with(id="")]}]}
    with pytest.raises(ValueError, match=r"^messages\[0\]: tool_calls\[0\]\.id is empty"):
        Conversation.from_dict(saved, agent=agent)
