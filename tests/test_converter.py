import json
import re

import attrs
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
    SessionCreated,
    SessionEnded,
    SessionState,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from pathors_async import _models as models
from pathors_async._converter import (
    ResponseShapeError,
    chunk_from_json,
    completion_from_json,
    structure,
    to_messages,
    unstructure,
    unstructure_messages,
)

SERVICE_EXAMPLE = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1677858242,
    "model": "pathway-default",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "SF"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": -1, "completion_tokens": -1, "total_tokens": -1},
    "session_id": "session-xyz789",
}


def test_the_service_example_structures_with_unknown_usage_as_none():
    completion = completion_from_json(json.loads(json.dumps(SERVICE_EXAMPLE)), session_id=None)
    assert completion == ChatCompletion(
        id="chatcmpl-abc123",
        created=1677858242,
        model="pathway-default",
        choices=(
            Choice(
                index=0,
                finish_reason="tool_calls",
                message=Message(
                    role="assistant",
                    content="",
                    tool_calls=(
                        ToolCall(
                            id="call_123",
                            function=FunctionCall(
                                name="get_weather", arguments='{"location": "SF"}'
                            ),
                        ),
                    ),
                ),
            ),
        ),
        usage=Usage(prompt_tokens=None, completion_tokens=None, total_tokens=None),
        session_id="session-xyz789",
    )


def test_the_session_header_wins_over_the_body():
    data = json.loads(json.dumps(SERVICE_EXAMPLE))
    assert completion_from_json(data, session_id="from-header").session_id == "from-header"


def test_unknown_fields_from_the_server_are_ignored():
    data = json.loads(json.dumps(SERVICE_EXAMPLE))
    data["system_fingerprint"] = "fp"
    data["choices"][0]["logprobs"] = None
    data["choices"][0]["message"]["refusal"] = None
    data["usage"]["prompt_tokens_details"] = {"cached_tokens": 3}
    assert completion_from_json(data, session_id=None).id == "chatcmpl-abc123"


def test_real_usage_numbers_are_kept():
    assert structure({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, Usage) == (
        Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
    )


def test_object_arguments_from_lenient_servers_become_json_text():
    call = structure({"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}, ToolCall)
    assert json.loads(call.function.arguments) == {"a": 1}


def test_a_body_that_is_not_a_completion_is_a_shape_error():
    with pytest.raises(ResponseShapeError, match="expected a JSON object, got a list"):
        completion_from_json([], session_id=None)
    with pytest.raises(ResponseShapeError, match=r"choices\[0\] must be a JSON object"):
        completion_from_json({"choices": [None]}, session_id=None)


def test_stream_tool_call_deltas_are_flat_and_round_trip():
    wire = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}
    delta = structure(wire, ToolCallDelta)
    assert delta == ToolCallDelta(index=0, id="call_1", type="function", name="f")
    assert unstructure(delta) == wire
    fragment = structure({"index": 0, "function": {"arguments": '{"a'}}, ToolCallDelta)
    assert fragment == ToolCallDelta(index=0, arguments='{"a')


def test_session_history_is_kept_as_the_service_sent_it():
    # The session API returns {role, content} only: a tool message there has no tool_call_id.
    state = structure(
        {
            "sessionId": "s1",
            "state": {
                "messages": [
                    {"role": "tool", "content": "22 C"},
                    {"role": "agent", "content": "x", "extra": 1},
                    "junk",
                ]
            },
        },
        SessionState,
    )
    assert state.messages == (
        {"role": "tool", "content": "22 C"},
        {"role": "agent", "content": "x", "extra": 1},
    )


def test_session_answers_use_camel_case_on_the_wire():
    created = structure({"sessionId": "s1", "pathwayId": "p1"}, SessionCreated)
    assert created == SessionCreated(session_id="s1", pathway_id="p1")
    state = structure(
        {
            "sessionId": "s1",
            "state": {"variables": {"x": 1}, "messages": [{"role": "user", "content": "hi"}]},
        },
        SessionState,
    )
    assert state == SessionState(
        session_id="s1", variables={"x": 1}, messages=({"role": "user", "content": "hi"},)
    )
    ended = structure({"success": True, "sessionId": "s1", "message": "bye"}, SessionEnded)
    assert ended == SessionEnded(success=True, session_id="s1", message="bye")


def test_outgoing_messages_leave_out_none_fields():
    messages = [Message(role="user", content="hi"), Message(role="assistant", content=None)]
    assert unstructure_messages(messages) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant"},
    ]


# ------------------------------------------------------------------ user input


def test_dicts_and_messages_mix():
    assert to_messages([{"role": "user", "content": "a"}, Message(role="user", content="b")]) == [
        Message(role="user", content="a"),
        Message(role="user", content="b"),
    ]


def test_tool_call_dicts_become_tool_calls():
    [message] = to_messages(
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            }
        ]
    )
    assert message.tool_calls == (ToolCall(id="c1", function=FunctionCall(name="f")),)


@pytest.mark.parametrize(
    ("messages", "error", "text"),
    [
        ("hi", TypeError, "messages must be a list of messages"),
        ({"role": "user"}, TypeError, "messages must be a list of messages"),
        (None, TypeError, "not NoneType"),
        ([], ValueError, "messages is empty"),
        (["hi"], TypeError, "messages[0] must be a dict or a Message, not str"),
        ([{"content": "x"}], ValueError, "messages[0] has no 'role'"),
        ([{"role": "robot", "content": "x"}], ValueError, "messages[0]: unknown message role"),
        (
            [{"role": "user", "content": "a"}, {"role": "tool", "content": "x"}],
            ValueError,
            "messages[1]: a 'tool' message needs tool_call_id",
        ),
        ([{"role": "user", "content": 5}], TypeError, "messages[0].content must be a string"),
        (
            [{"role": "user", "content": "x", "refusal": None}],
            ValueError,
            "messages[0] has unknown field(s) 'refusal'; a message takes: role, content",
        ),
        (
            [{"role": "assistant", "tool_calls": "nope"}],
            TypeError,
            "messages[0].tool_calls must be a list",
        ),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}],
                }
            ],
            TypeError,
            "messages[0].tool_calls[0] must look like",
        ),
    ],
)
def test_invalid_user_messages_say_which_and_why(messages, error, text):
    with pytest.raises(error) as info:
        to_messages(messages)
    assert text in str(info.value)


# ------------------------------------------------------------------ round trips

texts = st.text(max_size=20)
ids = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=12)
counts = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
function_calls = st.builds(FunctionCall, name=ids, arguments=texts)
tool_calls = st.builds(ToolCall, id=ids, function=function_calls, type=st.just("function"))


@st.composite
def messages(draw):
    role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool"]))
    if role == "assistant":
        calls = draw(st.one_of(st.none(), st.lists(tool_calls, min_size=1, max_size=3)))
        return Message(role=role, content=draw(st.one_of(st.none(), texts)), tool_calls=calls)
    if role == "tool":
        return Message(role=role, content=draw(texts), tool_call_id=draw(ids), name=draw(ids))
    return Message(role=role, content=draw(texts), name=draw(st.one_of(st.none(), ids)))


usages = st.builds(Usage, prompt_tokens=counts, completion_tokens=counts, total_tokens=counts)
choices = st.builds(
    Choice,
    index=st.integers(0, 3),
    message=messages(),
    finish_reason=st.sampled_from([None, "stop", "tool_calls", "length"]),
)
completions = st.builds(
    ChatCompletion,
    id=ids,
    created=st.integers(0, 2**40),
    model=texts,
    choices=st.lists(choices, max_size=3),
    usage=st.one_of(st.none(), usages),
    session_id=st.one_of(st.none(), ids),
)
tool_call_deltas = st.builds(
    ToolCallDelta,
    index=st.one_of(st.none(), st.integers(0, 5)),
    id=st.one_of(st.none(), ids),
    type=st.one_of(st.none(), st.just("function")),
    name=st.one_of(st.none(), ids),
    arguments=st.one_of(st.none(), texts),
)
chunks = st.builds(
    ChatCompletionChunk,
    id=ids,
    created=st.integers(0, 2**40),
    model=texts,
    choices=st.lists(
        st.builds(
            ChunkChoice,
            index=st.integers(0, 3),
            delta=st.builds(
                Delta,
                role=st.one_of(st.none(), st.just("assistant")),
                content=st.one_of(st.none(), texts),
                tool_calls=st.one_of(st.none(), st.lists(tool_call_deltas, max_size=3)),
            ),
            finish_reason=st.sampled_from([None, "stop", "tool_calls"]),
        ),
        max_size=3,
    ),
    usage=st.one_of(st.none(), usages),
    session_id=st.one_of(st.none(), ids),
)
sessions = st.one_of(
    st.builds(SessionCreated, session_id=ids, pathway_id=st.one_of(st.none(), ids)),
    st.builds(
        SessionEnded, success=st.booleans(), session_id=ids, message=st.one_of(st.none(), texts)
    ),
    st.builds(
        SessionState,
        session_id=ids,
        variables=st.dictionaries(ids, st.integers()),
        messages=st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "tool", "agent"]), "content": texts}
            ),
            max_size=3,
        ),
    ),
)


@given(st.one_of(completions, chunks, sessions, messages()))
def test_every_model_round_trips_through_json(model):
    wire = json.loads(json.dumps(unstructure(model)))
    assert structure(wire, type(model)) == model


@given(st.lists(messages(), min_size=1, max_size=5))
def test_messages_given_as_wire_dicts_come_back_equal(items):
    assert to_messages(unstructure_messages(items)) == items


def test_round_trip_strategies_cover_every_model():
    covered = {
        ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta, FunctionCall, Message,
        SessionCreated, SessionEnded, SessionState, ToolCall, ToolCallDelta, Usage,
    }  # fmt: skip
    defined = {obj for obj in vars(models).values() if attrs.has(obj)}
    # ToolResult is a Message whose extra fields stay local: on the wire it is a Message.
    assert defined - {models.ToolResult} == covered


# ------------------------------------------------------------------ what real servers send


def completion_with(message, **fields):
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message}], **fields}


def only_message(data):
    return completion_from_json(data, session_id=None).choices[0].message


def test_content_sent_as_text_parts_is_joined_and_other_parts_ignored():
    parts = [
        {"type": "text", "text": "Hello, "},
        {"type": "image_url", "image_url": {"url": "http://x"}},
        {"type": "text", "text": "world"},
    ]
    message = only_message(completion_with({"role": "assistant", "content": parts}))
    assert message == Message(role="assistant", content="Hello, world")


def test_content_sent_as_an_empty_list_is_empty_text():
    message = only_message(completion_with({"role": "assistant", "content": []}))
    assert message == Message(role="assistant", content="")


def test_content_of_another_type_is_a_shape_error_with_its_path():
    with pytest.raises(ResponseShapeError, match=r"choices\[0\]\.message\.content must be"):
        completion_from_json(completion_with({"role": "assistant", "content": 5}), session_id=None)


def test_chunk_content_sent_as_text_parts_is_joined():
    data = {"choices": [{"delta": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]}
    assert chunk_from_json(data).choices[0].delta.content == "ab"


CALL_WITHOUT_ID = {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}


def test_a_tool_call_without_id_gets_a_stable_generated_id():
    data = completion_with({"role": "assistant", "tool_calls": [CALL_WITHOUT_ID, CALL_WITHOUT_ID]})
    first = only_message(json.loads(json.dumps(data))).tool_calls or ()
    again = only_message(json.loads(json.dumps(data))).tool_calls or ()
    assert [call.id for call in first] == [call.id for call in again]  # same completion, same ids
    assert re.fullmatch(r"call_0_[0-9a-f]{12}", first[0].id)
    assert re.fullmatch(r"call_1_[0-9a-f]{12}", first[1].id)
    assert first[0].function == FunctionCall(name="f", arguments='{"a": 1}')
    other = completion_with({"role": "assistant", "tool_calls": [CALL_WITHOUT_ID]}, id="chatcmpl-2")
    assert (only_message(other).tool_calls or ())[0].id != first[0].id


def test_an_empty_tool_call_id_is_replaced_too():
    call = {"id": "", "function": {"name": "f"}}
    [tool_call] = (
        only_message(completion_with({"role": "assistant", "tool_calls": [call]})).tool_calls or ()
    )
    assert tool_call.id.startswith("call_0_")


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ({"id": "c"}, r"choices\[0\]\.message\.tool_calls\[1\]\.function is missing"),
        ({"id": "c", "function": {}}, r"choices\[0\]\.message\.tool_calls\[1\]\.function\.name"),
        ("nope", r"choices\[0\]\.message\.tool_calls\[1\] must be a JSON object"),
    ],
)
def test_a_broken_tool_call_is_an_error_naming_the_real_place(call, path):
    message = {"role": "assistant", "tool_calls": [CALL_WITHOUT_ID, call]}
    with pytest.raises(ResponseShapeError, match=path):
        completion_from_json(completion_with(message), session_id=None)


@pytest.mark.parametrize(
    "message",
    [
        {"role": "model", "content": "hi"},
        {"role": "system"},
        {"role": "user", "content": None},
        {"role": "tool", "content": "x"},
        {"role": 7, "content": "hi"},
    ],
)
def test_a_role_that_cannot_make_a_valid_message_becomes_assistant(message):
    structured = only_message(completion_with(message))
    assert structured.role == "assistant"
    assert structured.content == message.get("content")


def test_a_known_role_that_makes_a_valid_message_is_kept():
    assert only_message(completion_with({"role": "system", "content": "x"})).role == "system"


LONE = "\ud800"


def test_lone_surrogates_in_server_text_are_replaced():
    body = {
        "id": "x\udfff",
        "model": "m" + LONE,
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": f"a{LONE}b",
                    "tool_calls": [
                        {"id": "c" + LONE, "function": {"name": "f" + LONE, "arguments": LONE}},
                        {"id": "d", "function": {"name": "g", "arguments": {"k": "\udc00"}}},
                    ],
                },
                "finish_reason": "stop" + LONE,
            }
        ],
    }
    # json.dumps writes a lone surrogate as the escape \ud800, which json.loads turns back.
    completion = completion_from_json(json.loads(json.dumps(body)), session_id=None)
    [choice] = completion.choices
    assert choice.message.content == "a\ufffdb"
    first, second = choice.message.tool_calls or ()
    assert first == ToolCall(
        id="c\ufffd", function=FunctionCall(name="f\ufffd", arguments="\ufffd")
    )
    assert json.loads(second.function.arguments) == {"k": "\ufffd"}
    assert completion.id == "x\ufffd"
    assert completion.model == "m\ufffd"
    assert choice.finish_reason == "stop\ufffd"
    # Nothing left that UTF-8 cannot encode: the next request can carry it.
    json.dumps(unstructure(completion), ensure_ascii=False).encode()


def test_lone_surrogates_in_chunks_are_replaced():
    body = (
        '{"id": "x\\ud800", "choices": [{"delta": {"role": "assistant", "content": "\\udbff!", '
        '"tool_calls": [{"index": 0, "id": "c\\ud800", "function": {"name": "f\\ud800", '
        '"arguments": "\\ud800"}}]}}]}'
    )
    chunk = chunk_from_json(json.loads(body))
    json.dumps(unstructure(chunk), ensure_ascii=False).encode()
    assert chunk.choices[0].delta.content == "\ufffd!"
    assert chunk.choices[0].delta.tool_calls == (
        ToolCallDelta(index=0, id="c\ufffd", name="f\ufffd", arguments="\ufffd"),
    )


def test_lone_surrogates_in_session_answers_are_replaced():
    state = structure(
        json.loads(
            '{"sessionId": "s", "state": {"variables": {"k\\ud800": ["\\ud800"]}, '
            '"messages": [{"role": "user", "content": "\\ud800"}]}}'
        ),
        SessionState,
    )
    assert state.variables == {"k\ufffd": ["\ufffd"]}
    assert state.messages == ({"role": "user", "content": "\ufffd"},)
    ended = structure({"success": True, "sessionId": "s", "message": LONE}, SessionEnded)
    assert ended.message == "\ufffd"


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "s\x00", f"s{LONE}", " s"])
def test_a_session_id_that_cannot_be_sent_back_is_a_shape_error(bad):
    with pytest.raises(ResponseShapeError, match="session_id"):
        completion_from_json(
            completion_with({"role": "assistant"}, session_id=bad), session_id=None
        )
    with pytest.raises(ResponseShapeError, match="session_id"):
        chunk_from_json({"choices": [], "session_id": bad})
    with pytest.raises(ResponseShapeError, match="sessionId"):
        structure({"sessionId": bad}, SessionCreated)


def test_an_empty_session_id_in_a_body_means_none():
    data = completion_with({"role": "assistant"}, session_id="")
    assert completion_from_json(data, session_id=None).session_id is None


def test_a_body_without_choices_is_not_a_completion():
    for body in ({}, {"error": {"message": "overloaded"}}, {"detail": "Not found"}):
        with pytest.raises(ResponseShapeError, match="has no 'choices' list"):
            completion_from_json(body, session_id=None)


def test_the_decoded_body_is_not_changed():
    data = json.loads(json.dumps(SERVICE_EXAMPLE))
    completion_from_json(data, session_id="from-header")
    assert data == SERVICE_EXAMPLE


@pytest.mark.parametrize(
    ("data", "cls", "error"),
    [
        ({}, SessionCreated, "SessionCreated.sessionId is missing"),
        ({"sessionId": 5}, SessionCreated, None),
        ({"sessionId": ["s"]}, SessionCreated, "SessionCreated.sessionId must be a string"),
        ({"sessionId": "s", "success": "yes"}, SessionEnded, "success must be true or false"),
        ({"sessionId": "s", "state": [1]}, SessionState, "SessionState.state must be a JSON"),
        ({"sessionId": "s", "state": {"variables": [1]}}, SessionState, "state.variables must"),
        ({"sessionId": "s", "state": {"messages": {}}}, SessionState, None),
        ({"sessionId": "s", "state": {"messages": "x"}}, SessionState, "state.messages must be"),
        ([], SessionState, "SessionState must be a JSON object"),
        ("x", int, "int: ValueError"),  # no hand-written hook: cattrs' own error, wrapped
    ],
)
def test_session_answers_out_of_shape_say_where(data, cls, error):
    if error is None:
        assert isinstance(structure(data, cls), cls)
        return
    with pytest.raises(ResponseShapeError) as info:
        structure(data, cls)
    assert error in str(info.value)


def test_lenient_forms_that_lose_nothing():
    data = {
        "id": "c",
        "created": 1700000000.0,
        "session_id": 42,
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": ["plain ", {"text": "part"}, {"type": "refusal", "refusal": "no"}],
                    "tool_calls": [{"id": 7, "function": {"name": "f", "arguments": None}}],
                }
            }
        ],
    }
    completion = completion_from_json(data, session_id=None)
    assert (completion.created, completion.session_id) == (1700000000, "42")
    message = completion.choices[0].message
    assert message.content == "plain part"
    assert message.tool_calls == (ToolCall(id="7", function=FunctionCall(name="f")),)
    fragment = {"index": 0, "id": 7, "function": {"arguments": {"a": 1}}}
    delta = chunk_from_json({"choices": [{"delta": {"tool_calls": [fragment]}}]}).choices[0]
    assert delta.delta.tool_calls == (ToolCallDelta(index=0, id="7", arguments='{"a": 1}'),)


@pytest.mark.parametrize(
    ("function", "data", "error"),
    [
        (
            lambda data: completion_from_json(data, session_id=None),
            {"choices": [{"message": {"tool_calls": {"id": "c"}}}]},
            "choices[0].message.tool_calls must be a list, not an object",
        ),
        (
            lambda data: completion_from_json(data, session_id=None),
            {"choices": [{"index": 0}]},
            "choices[0].message is missing",
        ),
        (
            chunk_from_json,
            {"choices": [{}, {"delta": {"tool_calls": [{"function": "f"}]}}]},
            "choices[1].delta.tool_calls[0].function must be a JSON object, not a string",
        ),
        (chunk_from_json, {"choices": {}}, "choices must be a list, not an object"),
        (chunk_from_json, [], "expected a JSON object, got a list"),
        (
            chunk_from_json,
            {"choices": [{"delta": {"content": {"text": "x"}}}]},
            "choices[0].delta.content must be a string, a list of content parts or null",
        ),
    ],
)
def test_shape_errors_name_the_real_place(function, data, error):
    with pytest.raises(ResponseShapeError) as info:
        function(data)
    assert str(info.value) == error or str(info.value).startswith(error)
