"""The emulator itself: scripts, the default responder, history, validation, faults, fixtures."""

import asyncio
import json

import aiohttp
import pytest

import pathors_async.testing
from pathors_async import APIConnectionError, BadRequestError, Message
from pathors_async.testing import ChatRequest, FakePathors, Reply, ScriptedToolCall
from pathors_async.testing._requests import BadRequest, Session, check_tool_answers
from pathors_async.testing._responder import SCRIPTED, arguments_for, best_tool, default_reply
from pathors_async.testing._streaming import reply_chunks

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["location", "unit"],
        },
    },
}
BOOK = {
    "type": "function",
    "function": {
        "name": "book_table",
        "description": "Book a restaurant table",
        "parameters": {
            "type": "object",
            "properties": {"people": {"type": "integer"}},
            "required": ["people"],
        },
    },
}


def user(text):
    return {"role": "user", "content": text}


async def raw_post(fake, path, body, *, key=None, headers=None):
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + path,
            data=body if isinstance(body, bytes) else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key or fake.api_key}", **(headers or {})},
        ) as response,
    ):
        return response.status, await response.json(), response.headers


CHAT = "/v1/projects/test-project/chat/completions"


# ------------------------------------------------------------------ default responder (pure)


def request(messages, tools=()):
    return ChatRequest(messages=tuple(messages), tools=tuple(tools), session_id="s", body={})


def test_the_default_reply_is_honest_about_being_scripted():
    reply = default_reply(request([user("hello")]), lambda: "call_1")
    assert reply == Reply(content=f"{SCRIPTED} You said: hello")
    assert reply.finish_reason == "stop"


def test_it_calls_the_tool_that_best_matches_the_words():
    reply = default_reply(
        request([user("What's the weather in Taipei today?")], [BOOK, WEATHER]), lambda: "call_7"
    )
    [call] = reply.tool_calls
    assert (call.id, call.name) == ("call_7", "get_weather")
    assert json.loads(call.arguments) == {"location": "Taipei", "unit": "c"}
    assert reply.finish_reason == "tool_calls"
    assert reply.content is None


def test_numbers_come_from_the_message():
    reply = default_reply(request([user("book a table for 4 people")], [WEATHER, BOOK]), str)
    assert json.loads(reply.tool_calls[0].arguments) == {"people": 4}


def test_no_matching_tool_means_a_plain_answer():
    reply = default_reply(request([user("hello")], [WEATHER]), str)
    assert reply.tool_calls == ()


def test_after_tool_results_it_answers_with_them():
    history = [
        user("weather?"),
        {"role": "assistant", "tool_calls": [{"id": "c1"}, {"id": "c2"}]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "22 C"},
        {"role": "tool", "tool_call_id": "c2", "content": "sunny"},
    ]
    reply = default_reply(request(history, [WEATHER]), str)
    assert reply.content == f"{SCRIPTED} Tool results: get_weather: 22 C; c2: sunny"


def test_best_tool_prefers_more_shared_words_and_the_first_on_ties():
    assert best_tool("book a table", [WEATHER, BOOK]) is BOOK
    assert best_tool("weather", [WEATHER, {**WEATHER, "function": {"name": "weather"}}]) is WEATHER
    assert best_tool("", [WEATHER]) is None


@pytest.mark.parametrize(
    ("schema", "text", "expected"),
    [
        ({"type": "string"}, "call Ada Lovelace now", "Ada Lovelace"),
        ({"type": "string"}, "lowercase words only", "only"),
        ({"type": "string"}, "", ""),
        ({"type": "string", "enum": ["x", "y"]}, "", "x"),
        ({"const": 3}, "", 3),
        ({"type": "integer", "default": 9}, "5", 9),
        ({"type": "integer"}, "in 12.5 minutes", 12),
        ({"type": "integer"}, "none", 1),
        ({"type": "number"}, "-3.5 degrees", -3.5),
        ({"type": "number"}, "", 1.0),
        ({"type": "boolean"}, "", True),
        ({"type": "null"}, "", None),
        ({"type": ["null", "integer"]}, "7", 7),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, "2", 2),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, "3", [3, 3]),
        ({"type": "array"}, "", []),
        (
            {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a", "b"]},
            "",
            {"a": True, "b": {}},
        ),
    ],
)
def test_arguments_fit_the_schema(schema, text, expected):
    assert arguments_for(schema, text) == expected


# ------------------------------------------------------------------ scripts and responders


async def test_scripted_replies_come_in_order_then_the_default(client, fake):
    fake.reply("one")
    fake.reply("cut short", finish_reason="length")
    answers = [await client.chat.completions.create(messages=[user("x")]) for _ in range(3)]
    assert [a.choices[0].message.content for a in answers] == [
        "one",
        "cut short",
        f"{SCRIPTED} You said: x",
    ]
    assert answers[1].choices[0].finish_reason == "length"


async def test_scripted_tool_calls(client, fake):
    fake.reply_tool_calls(
        [
            {"name": "get_weather", "arguments": {"location": "Taipei"}},
            {"name": "get_weather", "arguments": "{not json", "id": "mine"},
        ],
        content="Checking",
    )
    completion = await client.chat.completions.create(messages=[user("x")], tools=[WEATHER])
    message = completion.choices[0].message
    assert message.content == "Checking"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    assert [c.function.arguments for c in message.tool_calls] == [
        '{"location": "Taipei"}',
        "{not json",
    ]
    assert message.tool_calls[0].id.startswith("call_")
    assert message.tool_calls[1].id == "mine"


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_responder_answers_what_is_not_scripted(fake, retries, asynchronous):
    seen = []

    def respond(chat):
        seen.append(chat)
        return f"{len(chat.messages)} messages"

    async def respond_async(chat):
        return respond(chat)

    fake.responder = respond_async if asynchronous else respond
    client = fake.client()
    completion = await client.chat.completions.create(messages=[user("a"), user("b")])
    assert completion.choices[0].message.content == "2 messages"
    assert seen[0].session_id == completion.session_id


async def test_a_responder_may_return_a_reply(retries):
    async with FakePathors(
        responder=lambda chat: Reply(content="r", finish_reason="length")
    ) as fake:
        completion = await fake.client().chat.completions.create(messages=[user("a")])
    assert completion.choices[0].finish_reason == "length"


# ------------------------------------------------------------------ history


async def test_history_grows_in_both_full_and_new_only_modes(client, fake):
    first = await client.chat.completions.create(messages=[user("one")])
    sid = first.session_id
    # "server" style: only the new message
    await client.chat.completions.create(messages=[user("two")], session_id=sid)
    history = fake.sessions[sid].messages
    assert [m["content"] for m in history if m["role"] == "user"] == ["one", "two"]
    # "full" style: the whole transcript, which replaces (not doubles) the history
    full = [*(Message(**m) for m in history), Message(role="user", content="three")]
    await client.chat.completions.create(messages=full, session_id=sid)
    assert [m["content"] for m in fake.sessions[sid].messages if m["role"] == "user"] == [
        "one",
        "two",
        "three",
    ]


async def test_the_deprecated_body_session_id_is_understood(fake):
    status, body, headers = await raw_post(
        fake, CHAT, {"messages": [user("x")], "session_id": "old"}
    )
    assert status == 200
    assert body["session_id"] == headers["X-Session-ID"] == "old"


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        ([1], "body"),
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["x"]}, "messages[0]"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 1}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [user("x")], "tools": {}}, "tools"),
        ({"messages": [user("x")], "tools": [{"type": "x"}]}, "tools[0]"),
        ({"messages": [user("x")], "stream": "no"}, "stream"),
    ],
)
async def test_invalid_bodies_get_400_with_the_documented_shape(fake, body, field):
    status, answer, _ = await raw_post(fake, CHAT, body)
    assert status == 400
    assert isinstance(answer["error"]["message"], str)
    assert answer["error"]["details"].get("field") == field


async def test_a_wrong_or_missing_key_gets_401_with_the_string_shape(fake):
    status, answer, _ = await raw_post(fake, CHAT, {"messages": [user("x")]}, key="nope")
    assert (status, answer) == (401, {"error": "Invalid authentication"})


async def test_session_creation_needs_an_id(fake):
    status, answer, _ = await raw_post(fake, "/v1/projects/test-project/sessions", {})
    assert status == 400
    assert answer["error"]["details"] == {"field": "session_id"}


def test_streamed_chunks_look_like_the_services():
    reply = Reply(
        content="Hi there",
        tool_calls=(ScriptedToolCall(name="f", arguments='{"city": "Taipei"}', id="c1"),),
    )
    chunks = reply_chunks(reply, completion_id="x", created=1, model="m", session_id="s")
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hi "},
        {"content": "there"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ' "Taipei'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"}'}}]},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 7 + ["tool_calls"]
    assert {(c["id"], c["object"], c["session_id"]) for c in chunks} == {
        ("x", "chat.completion.chunk", "s")
    }


async def test_a_raw_stream_ends_with_done(fake):
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + CHAT,
            json={"messages": [user("hi")], "stream": True},
            headers={"Authorization": f"Bearer {fake.api_key}"},
        ) as response,
    ):
        assert response.content_type == "text/event-stream"
        text = (await response.read()).decode()
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: ") for event in events[:-1])


# ------------------------------------------------------------------ faults and synchronisation


async def test_stalled_requests_go_on_when_released(client, fake):
    fake.stall_next()
    task = asyncio.create_task(client.chat.completions.create(messages=[user("x")]))
    await fake.wait_for_requests(1)
    assert not task.done()
    fake.release()
    completion = await task
    assert completion.choices[0].message.content


async def test_close_does_not_hang_on_a_stalled_request(retries):
    async with FakePathors() as fake:
        client = fake.client()
        fake.stall_next(times=2)
        task = asyncio.create_task(client.chat.completions.create(messages=[user("x")]))
        await fake.wait_for_requests(1)
    # close() released the stall and closed the clients it made: the call fails cleanly.
    with pytest.raises(APIConnectionError):
        await task
    assert client.is_closed


def test_url_before_start_is_a_clear_error():
    with pytest.raises(RuntimeError, match="FakePathors is not started"):
        _ = FakePathors().url


def test_it_needs_a_key():
    with pytest.raises(ValueError, match="at least one API key"):
        FakePathors(api_keys=())


async def test_recorded_requests_hide_headers_in_their_repr(client, fake):
    await client.chat.completions.create(messages=[user("x")])
    assert "Authorization" in fake.requests[0].headers
    assert "Bearer" not in repr(fake.requests[0])


# ------------------------------------------------------------------ the pytest plugin


async def test_the_plugin_fixtures(pathors_fake, pathors_client):
    assert isinstance(pathors_fake, FakePathors)
    assert pathors_client.base_url == pathors_fake.url
    pathors_fake.fail_next(503, retry_after=600)  # test mode: no real wait
    completion = await pathors_client.chat.completions.create(messages=[user("hi")])
    assert completion.choices[0].message.content == f"{SCRIPTED} You said: hi"
    assert len(pathors_fake.requests) == 2


async def test_the_plugin_works_in_a_users_project(pytester):
    pytester.makepyfile(
        """
        async def test_user(pathors_fake, pathors_client):
            pathors_fake.reply("from the user's test")
            completion = await pathors_client.chat.completions.create(
                messages=[{"role": "user", "content": "hi"}]
            )
            assert completion.choices[0].message.content == "from the user's test"
        """
    )
    # A fresh process, so the fixtures come through the installed pytest11 entry point.
    result = pytester.runpytest_subprocess(
        "--asyncio-mode=auto", "-o", "asyncio_default_fixture_loop_scope=function", "-W", "error"
    )
    result.assert_outcomes(passed=1)


# ------------------------------------------------------------------ strict about tool answers


def assistant_calling(*ids):
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids
        ],
    }


def tool_answer(call_id):
    return {"role": "tool", "tool_call_id": call_id, "content": "ok"}


UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
)
ORPHAN = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
    "with 'tool_calls'."
)


@pytest.mark.parametrize(
    "messages",
    [
        [user("hi")],
        [user("hi"), assistant_calling("a", "b"), tool_answer("b"), tool_answer("a")],
        [user("hi"), assistant_calling("a"), tool_answer("a"), {"role": "assistant"}, user("x")],
        [user("hi"), assistant_calling(), user("x")],  # an empty tool_calls list calls nothing
    ],
)
def test_transcripts_with_every_call_answered_pass(messages):
    check_tool_answers(messages)


@pytest.mark.parametrize(
    ("messages", "message", "field"),
    [
        (
            [user("hi"), assistant_calling("call_x")],
            UNANSWERED + "call_x",
            "messages[1].tool_calls",
        ),
        (
            [user("hi"), assistant_calling("a", "b"), tool_answer("a"), user("next")],
            UNANSWERED + "b",
            "messages[1].tool_calls",
        ),
        (
            [user("hi"), assistant_calling("a", "b")],
            UNANSWERED + "a, b",
            "messages[1].tool_calls",
        ),
        ([user("hi"), tool_answer("a")], ORPHAN, "messages[1].role"),
        (
            [user("hi"), assistant_calling("a"), tool_answer("a"), user("x"), tool_answer("a")],
            ORPHAN,
            "messages[4].role",
        ),
        (
            [user("hi"), assistant_calling("a", "b"), tool_answer("a"), tool_answer("a")],
            (
                "Invalid parameter: 'tool_call_id' of 'a' has already been answered by an earlier "
                "'tool' message; send one response per tool call."
            ),
            "messages[3].tool_call_id",
        ),
        (
            [user("hi"), assistant_calling("a"), tool_answer("zzz")],
            (
                "Invalid parameter: 'tool_call_id' of 'zzz' not found in 'tool_calls' of previous "
                "message."
            ),
            "messages[2].tool_call_id",
        ),
    ],
)
def test_what_openai_refuses_is_refused(messages, message, field):
    with pytest.raises(BadRequest) as info:
        check_tool_answers(messages)
    assert (info.value.message, info.value.field) == (message, field)


async def test_an_unanswered_tool_call_gets_400_and_changes_no_history(fake):
    status, body, headers = await raw_post(fake, CHAT, {"messages": [user("hi")]})
    assert status == 200
    session_id = headers["X-Session-ID"]
    before = list(fake.sessions[session_id].messages)
    status, body, _ = await raw_post(
        fake,
        CHAT,
        {"messages": [*before, assistant_calling("call_x"), user("again")]},
        headers={"X-Session-ID": session_id},
    )
    assert status == 400
    field = f"messages[{len(before)}].tool_calls"
    assert body == {"error": {"message": UNANSWERED + "call_x", "details": {"field": field}}}
    assert fake.sessions[session_id].messages == before


async def test_an_orphan_tool_message_through_the_client_is_a_bad_request(client, fake):
    with pytest.raises(BadRequestError, match="must be a response to a preceeding message"):
        await client.chat.completions.create(messages=[user("hi"), tool_answer("call_1")])


async def test_server_history_is_checked_as_a_whole(client, fake):
    fake.reply_tool_calls([{"name": "f", "arguments": {}, "id": "call_a"}])
    first = await client.chat.completions.create(messages=[user("hi")])
    # Only the new messages: the answer to the call the session already holds is fine...
    await client.chat.completions.create(
        messages=[tool_answer("call_a")], session_id=first.session_id
    )
    # ...but a second answer to it, after the model's reply, is an orphan.
    with pytest.raises(BadRequestError, match="must be a response to a preceeding message"):
        await client.chat.completions.create(
            messages=[tool_answer("call_a")], session_id=first.session_id
        )


async def test_a_client_gone_before_its_stream_starts_is_no_server_error(fake, caplog):
    fake.stall_next()
    _, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    body = json.dumps({"messages": [user("hi")], "stream": True}).encode()
    writer.write(
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {fake.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    await fake.wait_for_requests(1)
    writer.transport.abort()  # the client goes away while its request is stalled
    [handler] = fake._runner.server.connections
    for _ in range(10_000):  # until the server has seen the connection go (no timing)
        if handler.transport is None:
            break
        await asyncio.sleep(0)
    assert handler.transport is None
    fake.release()
    await fake.close()  # waits for the handler to finish writing to nobody
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_which_requests_replace_the_session_history():
    session = Session(messages=[user("hi"), {"role": "assistant", "content": "a"}])
    # The full transcript, longer: replaces.
    full = [user("hi"), {"role": "assistant", "content": "a"}, user("more")]
    assert session.merged(full) == full
    # A full transcript that left out a turn the client never received: replaces.
    assert session.merged([user("hi"), user("again")]) == [user("hi"), user("again")]
    # Only the new messages: extends, even when one repeats the first message.
    assert session.merged([user("hi")]) == [*session.messages, user("hi")]
    assert session.merged([user("x"), user("y")]) == [*session.messages, user("x"), user("y")]
    assert Session().merged([user("x")]) == [user("x")]


def test_the_emulator_keeps_its_public_surface():
    # FakePathors is split over modules (the HTTP side, and a base class holding the queues
    # and the scripting methods); users see one class with these members and these exports.
    members = {name for name in dir(FakePathors) if not name.startswith("_")}
    assert members == {
        *("api_key", "client", "close", "start", "url", "wait_for_requests", "release"),
        *("reply", "reply_tool_calls", "fail_next", "delay_next", "stall_next", "drop_next"),
        *("cut_stream_next", "end_stream_next", "stall_stream_next", "corrupt_stream_next"),
        *("error_in_stream_next", "linger_after_done_next", "noisy_stream_next"),
    }
    for name in members:
        assert (getattr(FakePathors, name).__doc__ or "").strip(), name
    fake = FakePathors()
    assert (fake.requests, fake.sessions, fake.responder) == ([], {}, None)
    assert pathors_async.testing.__all__ == [
        *("ChatRequest", "FakePathors", "RecordedRequest", "Reply", "RequestHook"),
        *("RequestLog", "Responder", "RetryTesting", "ScriptedToolCall", "set_testing"),
    ]
