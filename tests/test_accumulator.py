"""The delta accumulator: pure, tested without I/O."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathors_async import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from pathors_async._accumulator import ChatCompletionAccumulator
from pathors_async._converter import completion_from_json


def chunk(*, index=0, finish=None, **delta):
    return ChatCompletionChunk(
        id="c1",
        created=5,
        model="m",
        choices=[ChunkChoice(index=index, delta=Delta(**delta), finish_reason=finish)],
    )


def tool(index=None, **fields):
    return ToolCallDelta(index=index, **fields)


def test_text_is_joined_and_metadata_kept():
    acc = ChatCompletionAccumulator(session_id="s")
    for piece in [chunk(role="assistant", content=""), chunk(content="Hel"), chunk(content="lo")]:
        acc.add(piece)
    assert not acc.finished
    acc.add(chunk(finish="stop"))
    assert acc.finished
    assert acc.snapshot() == ChatCompletion(
        id="c1",
        created=5,
        model="m",
        choices=[
            Choice(
                index=0, message=Message(role="assistant", content="Hello"), finish_reason="stop"
            )
        ],
        session_id="s",
    )


def test_choices_are_kept_apart():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(index=1, content="b"))
    acc.add(chunk(index=0, content="a"))
    acc.add(chunk(index=1, content="b", finish="stop"))
    assert not acc.finished  # choice 0 has no finish_reason yet
    snapshot = acc.snapshot()
    assert [(c.index, c.message.content) for c in snapshot.choices] == [(0, "a"), (1, "bb")]


def test_repeated_id_type_and_name_are_not_doubled():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(0, id="call_1", type="function", name="f", arguments="")]))
    acc.add(chunk(tool_calls=[tool(0, id="call_1", type="function", name="f", arguments='{"a"')]))
    acc.add(
        chunk(tool_calls=[tool(0, id="call_1", name="f", arguments=": 1}")], finish="tool_calls")
    )
    [call] = acc.snapshot().choices[0].message.tool_calls or ()
    assert call == ToolCall(id="call_1", function=FunctionCall(name="f", arguments='{"a": 1}'))


def test_the_first_type_and_name_of_a_call_win():
    # Set once: a later fragment of the same call cannot rename it.
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(0, id="call_1", type="function", name="f", arguments="{")]))
    acc.add(chunk(tool_calls=[tool(0, type="other", name="g", arguments="}")]))
    acc.add(chunk(tool_calls=[tool(0, id="call_1", type="other", name="g", arguments="")]))
    [call] = acc.snapshot().choices[0].message.tool_calls or ()
    assert call == ToolCall(id="call_1", function=FunctionCall(name="f", arguments="{}"))


def test_two_calls_on_one_index_with_different_ids_stay_two_calls():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(0, id="a", type="function", name="f", arguments="{")]))
    acc.add(chunk(tool_calls=[tool(0, arguments="}")]))
    acc.add(chunk(tool_calls=[tool(0, id="b", type="function", name="g", arguments="[")]))
    acc.add(chunk(tool_calls=[tool(0, arguments="]")]))  # the latest call on index 0
    acc.add(chunk(tool_calls=[tool(0, id="a", arguments=" ")]))  # a known id finds its call
    acc.add(chunk(tool_calls=[tool(1, id="c", name="h")]))
    calls = acc.snapshot().choices[0].message.tool_calls or ()
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", "{} "),
        ("b", "g", "[]"),
        ("c", "h", ""),
    ]


def test_a_call_without_id_gets_the_id_a_whole_completion_would_get():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(0, type="function", name="f", arguments='{"a"')]))
    acc.add(chunk(tool_calls=[tool(0, arguments=": 1}")]))
    acc.add(chunk(tool_calls=[tool(1, id="", name="f", arguments='{"a": 1}')]))
    acc.add(chunk(finish="tool_calls"))
    streamed = acc.snapshot()
    first, second = streamed.choices[0].message.tool_calls or ()
    assert re.fullmatch(r"call_0_[0-9a-f]{12}", first.id)
    assert re.fullmatch(r"call_1_[0-9a-f]{12}", second.id)
    call = {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    whole = completion_from_json(
        {
            "id": "c1",
            "created": 5,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "tool_calls": [call, call]},
                    "finish_reason": "tool_calls",
                }
            ],
        },
        session_id=None,
    )
    assert streamed == whole


@pytest.mark.parametrize(
    ("role", "content", "expected"),
    [
        ("model", "hi", "assistant"),
        ("system", None, "assistant"),
        ("tool", "x", "assistant"),
        ("bot", None, "assistant"),
        ("system", "x", "system"),
    ],
)
def test_a_role_that_cannot_make_a_valid_message_becomes_assistant(role, content, expected):
    acc = ChatCompletionAccumulator()
    acc.add(chunk(role=role, content=content, finish="stop"))
    message = acc.snapshot().choices[0].message
    assert message == Message(role=expected, content=content)
    # the same as a whole completion with that message
    whole = completion_from_json(
        {"choices": [{"message": {"role": role, "content": content}}]}, session_id=None
    )
    assert whole.choices[0].message == message


def test_tool_calls_without_index_are_keyed_by_id_then_continue_the_last():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(id="a", name="f", arguments="{")]))
    acc.add(chunk(tool_calls=[tool(arguments="}")]))  # no index, no id: the last call
    acc.add(chunk(tool_calls=[tool(id="b", name="g", arguments="[")]))
    acc.add(chunk(tool_calls=[tool(id="a", arguments=" ")]))  # back to a, by id
    acc.add(chunk(tool_calls=[tool(id="b", arguments="]")]))
    calls = acc.snapshot().choices[0].message.tool_calls or ()
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", "{} "),
        ("b", "g", "[]"),
    ]


def test_tool_calls_are_ordered_by_index():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(tool_calls=[tool(1, id="second", name="g")]))
    acc.add(chunk(tool_calls=[tool(0, id="first", name="f")]))
    calls = acc.snapshot().choices[0].message.tool_calls or ()
    assert [c.id for c in calls] == ["first", "second"]


def test_usage_and_session_from_chunks():
    acc = ChatCompletionAccumulator()
    acc.add(chunk(content="x"))
    acc.add(
        ChatCompletionChunk(
            id="c1", choices=[], usage=Usage(total_tokens=3), session_id="from-chunk"
        )
    )
    snapshot = acc.snapshot()
    assert snapshot.usage == Usage(total_tokens=3)
    assert snapshot.session_id == "from-chunk"
    assert acc.chunks == 2


def test_an_empty_accumulator():
    acc = ChatCompletionAccumulator()
    assert not acc.finished
    assert acc.snapshot() == ChatCompletion()


calls = st.lists(
    st.tuples(
        st.text(alphabet="abcdef0123456789_", min_size=1, max_size=10),  # id
        st.text(alphabet="abcdefghij_", min_size=1, max_size=10),  # name
        st.text(max_size=40),  # arguments
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda call: call[0],
)


@st.composite
def delta_streams(draw):
    """Complete tool calls, each split into arbitrary fragments, fragments interleaved."""
    chosen = draw(calls)
    omit_index = draw(st.booleans())
    repeat_header = draw(st.booleans())
    queues = []
    for index, (call_id, name, arguments) in enumerate(chosen):
        cuts = sorted(draw(st.lists(st.integers(0, len(arguments)), max_size=6)))
        pieces = [arguments[a:b] for a, b in zip([0, *cuts], [*cuts, len(arguments)], strict=True)]
        key = None if omit_index else index
        first = tool(key, id=call_id, type="function", name=name, arguments=pieces[0])
        rest = [
            tool(key, id=call_id if (omit_index or repeat_header) else None,
                 name=name if repeat_header else None, arguments=piece)
            for piece in pieces[1:]
        ]  # fmt: skip
        queues.append([first, *rest])
    order = draw(st.permutations([i for i, q in enumerate(queues) for _ in q]))
    # Each call's first fragment must come before its others: take them in queue order.
    deltas = [queues[i].pop(0) for i in order]
    return chosen, deltas


@given(delta_streams(), st.integers(1, 3))
def test_any_split_of_complete_tool_calls_reassembles_exactly(stream, per_chunk):
    chosen, deltas = stream
    acc = ChatCompletionAccumulator()
    for start in range(0, len(deltas), per_chunk):
        acc.add(chunk(tool_calls=deltas[start : start + per_chunk]))
    acc.add(chunk(finish="tool_calls"))
    message = acc.snapshot().choices[0].message
    if deltas[0].index is None:  # without indexes, calls come in the order they started
        started = [d.id for d in deltas if d.type is not None]
        chosen = sorted(chosen, key=lambda call: started.index(call[0]))
    assert message.tool_calls == tuple(
        ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))
        for call_id, name, arguments in chosen
    )


@given(st.lists(st.text(max_size=10), min_size=1, max_size=30))
def test_any_split_of_text_reassembles_exactly(pieces):
    acc = ChatCompletionAccumulator()
    for piece in pieces:
        acc.add(chunk(content=piece))
    assert acc.snapshot().choices[0].message.content == ("".join(pieces) or None)
