"""Conversations: history modes, persistence between requests, and many at once."""

import asyncio
import json

import pytest

from pathors_async import (
    Agent,
    Conversation,
    InternalServerError,
    Message,
    TextDelta,
    ToolRegistry,
    TurnFinished,
)
from pathors_async.testing._responder import SCRIPTED


@pytest.fixture
def tools():
    registry = ToolRegistry()

    @registry.tool
    async def get_weather(location: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {location}"

    return registry


@pytest.fixture
def agent(client, tools):
    return Agent(client, tools=tools, instructions="Be brief.")


def roles(messages):
    return [m.role for m in messages]


async def test_a_conversation_keeps_its_transcript_and_session(agent, fake):
    conversation = agent.conversation()
    assert conversation.session_id is None
    first = await conversation.send("What's the weather in Oslo?")
    assert first.output.endswith("get_weather: sunny in Oslo")
    session_id = conversation.session_id
    assert session_id == first.session_id
    second = await conversation.send(Message(role="user", content="thanks"))
    assert second.output == f"{SCRIPTED} You said: thanks"
    assert conversation.session_id == session_id
    assert roles(conversation.messages) == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert second.messages == conversation.messages
    assert roles(second.new_messages) == ["user", "assistant"]
    assert [r.session_id for r in fake.requests] == [None, session_id, session_id]
    assert (
        repr(conversation) == f"Conversation(session_id={session_id!r}, messages=6, history='full')"
    )


async def test_full_history_sends_the_whole_transcript(agent, fake):
    conversation = agent.conversation(history="full")
    await conversation.send("What's the weather in Oslo?")
    await conversation.send("thanks")
    sent = [[m["role"] for m in r.body["messages"]] for r in fake.requests]
    assert sent == [
        ["system", "user"],
        ["system", "user", "assistant", "tool"],
        ["system", "user", "assistant", "tool", "assistant", "user"],
    ]


async def test_server_history_sends_only_what_the_service_has_not_seen(agent, fake):
    conversation = agent.conversation(history="server")
    await conversation.send("What's the weather in Oslo?")
    await conversation.send("thanks")
    sent = [[m["role"] for m in r.body["messages"]] for r in fake.requests]
    assert sent == [["system", "user"], ["tool"], ["user"]]
    # The service's memory holds the same conversation the client does.
    memory = fake.sessions[conversation.session_id].messages
    assert [m["role"] for m in memory] == ["system", *roles(conversation.messages)]


async def test_both_modes_give_the_same_answers(client, tools, fake):
    outputs = {}
    for mode in ("full", "server"):
        conversation = Agent(client, tools=tools).conversation(history=mode)
        results = [
            await conversation.send(text) for text in ("weather in Oslo?", "and Rome", "bye")
        ]
        outputs[mode] = [r.output for r in results]
    assert outputs["full"] == outputs["server"]


async def test_a_streamed_send_updates_the_conversation(agent):
    conversation = agent.conversation()
    async with conversation.stream("hello there") as run:
        events = [event async for event in run]
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta))
        == f"{SCRIPTED} You said: hello there"
    )
    assert isinstance(events[-1], TurnFinished)
    assert roles(conversation.messages) == ["user", "assistant"]
    assert conversation.session_id == run.result.session_id


async def test_one_message_at_a_time(agent, fake):
    conversation = agent.conversation()
    fake.stall_next()
    first = asyncio.create_task(conversation.send("one"))
    await fake.wait_for_requests(1)
    with pytest.raises(RuntimeError, match="already answering a message"):
        await conversation.send("two")
    fake.release()
    await first
    assert (await conversation.send("two")).output.endswith("two")


async def test_a_stream_left_before_it_started_frees_the_conversation(agent):
    conversation = agent.conversation()
    async with conversation.stream("never sent"):
        pass
    assert (await conversation.send("next")).output.endswith("next")


async def test_a_failed_send_keeps_the_transcript_and_can_be_resumed(agent, fake):
    conversation = agent.conversation()
    fake.fail_next(500)
    with pytest.raises(InternalServerError) as info:
        await conversation.send("hello")
    assert roles(info.value.messages) == ["user"]
    assert roles(conversation.messages) == ["user"]
    result = await conversation.resume()
    assert result.output == f"{SCRIPTED} You said: hello"
    assert roles(conversation.messages) == ["user", "assistant"]


async def test_nothing_to_resume(agent):
    with pytest.raises(ValueError, match="nothing to resume"):
        await agent.conversation().resume()


async def test_resuming_an_answered_turn_is_refused_without_a_request(agent, fake):
    conversation = agent.conversation()
    await conversation.send("hello")
    sent = len(fake.requests)
    with pytest.raises(ValueError, match="nothing to resume: the last turn was answered"):
        await conversation.resume()
    assert len(fake.requests) == sent
    assert roles(conversation.messages) == ["user", "assistant"]
    assert (await conversation.send("again")).output.endswith("again")


def test_bad_options(agent):
    with pytest.raises(ValueError, match="history must be 'full' or 'server'"):
        agent.conversation(history="client")
    with pytest.raises(ValueError, match="control characters"):
        agent.conversation(session_id="a\nb")


# ------------------------------------------------------------------ persistence


@pytest.mark.parametrize("mode", ["full", "server"])
async def test_a_conversation_survives_a_round_trip_mid_way(agent, fake, mode):
    conversation = agent.conversation(history=mode)
    await conversation.send("What's the weather in Oslo?")
    saved = json.dumps(conversation.to_dict())  # e.g. into Redis, between two HTTP requests

    restored = Conversation.from_dict(json.loads(saved), agent=agent)
    assert restored.session_id == conversation.session_id
    assert restored.to_dict() == conversation.to_dict()
    assert restored.history == mode
    assert roles(restored.messages) == ["user", "assistant", "tool", "assistant"]
    result = await restored.send("and tomorrow?")
    assert result.session_id == conversation.session_id
    sent = [m["role"] for m in fake.requests[-1].body["messages"]]
    assert sent == (
        ["user"]
        if mode == "server"
        else ["system", "user", "assistant", "tool", "assistant", "user"]
    )


def test_the_saved_form(agent):
    conversation = Conversation(
        agent, session_id="s-1", messages=[Message(role="user", content="hi")]
    )
    assert conversation.to_dict() == {
        "format": "pathors_async.conversation",
        "version": 1,
        "session_id": "s-1",
        "history": "full",
        "server_known": 1,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ([], "this is not a conversation saved by Conversation.to_dict()"),
        ({"format": "other"}, "this is not a conversation saved"),
        ({"format": "pathors_async.conversation", "version": 2}, "saved in format version 2"),
        (
            {"format": "pathors_async.conversation", "version": 1, "messages": [{"role": "bot"}]},
            "messages\\[0\\]",
        ),
        (
            {
                "format": "pathors_async.conversation",
                "version": 1,
                "messages": [],
                "server_known": 3,
            },
            "server_known must be an int from 0 to 0, got 3",
        ),
        (
            {"format": "pathors_async.conversation", "version": 1, "history": "x"},
            "history must be 'full' or 'server'",
        ),
    ],
)
def test_what_cannot_be_restored_says_why(agent, data, text):
    with pytest.raises(ValueError, match=text):
        Conversation.from_dict(data, agent=agent)


# ------------------------------------------------------------------ many at once


async def test_five_hundred_conversations_at_once_stay_apart(fake, tools, retries):
    async with fake.client(max_connections=50) as client:
        agent = Agent(client, tools=tools)
        cities = [f"City{n}" for n in range(500)]
        conversations = [agent.conversation() for _ in cities]

        async def talk(conversation, city):
            first = await conversation.send(f"What is the weather in {city}?")
            second = await conversation.send(f"thanks from {city}")
            return first, second

        results = await asyncio.gather(
            *(talk(c, city) for c, city in zip(conversations, cities, strict=True))
        )
    session_ids = [c.session_id for c in conversations]
    assert len(set(session_ids)) == 500
    for conversation, city, (first, second) in zip(conversations, cities, results, strict=True):
        assert first.output == f"{SCRIPTED} Tool results: get_weather: sunny in {city}"
        assert second.output == f"{SCRIPTED} You said: thanks from {city}"
        transcript = conversation.messages
        assert roles(transcript) == ["user", "assistant", "tool", "assistant", "user", "assistant"]
        assert all(city in (m.content or "") or m.tool_calls for m in transcript)
        assert fake.sessions[conversation.session_id].messages[-1]["content"].endswith(city)
    assert len(fake.requests) == 1500


# ------------------------------------------------------------------ what send() takes


async def test_a_message_dict_is_converted_and_the_conversation_can_be_saved(agent, fake):
    conversation = agent.conversation()
    result = await conversation.send({"role": "user", "content": "hello"})
    assert result.output == f"{SCRIPTED} You said: hello"
    assert conversation.messages[0] == Message(role="user", content="hello")
    saved = json.loads(json.dumps(conversation.to_dict()))
    assert saved["messages"][0] == {"role": "user", "content": "hello"}
    assert Conversation.from_dict(saved, agent=agent).messages == conversation.messages


@pytest.mark.parametrize(
    ("message", "error", "text"),
    [
        ({"role": "bot", "content": "x"}, ValueError, "messages\\[0\\]"),
        (42, TypeError, "send\\(\\) takes the user's text, a Message or a message dict"),
    ],
)
async def test_a_bad_message_is_refused_before_anything_changes(agent, message, error, text):
    conversation = agent.conversation()
    with pytest.raises(error, match=text):
        await conversation.send(message)
    assert conversation.messages == []
    assert (await conversation.send("hi")).output == f"{SCRIPTED} You said: hi"


async def test_a_transcript_saved_with_unanswered_calls_is_repaired_on_load(agent, fake):
    # Saved by an older version after a disconnect: the last tool call has no answer.
    data = {
        "format": "pathors_async.conversation",
        "version": 1,
        "session_id": None,
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
        ],
    }
    conversation = Conversation.from_dict(data, agent=agent)
    assert roles(conversation.messages) == ["user", "assistant", "tool"]
    answer = conversation.messages[-1]
    assert (answer.tool_call_id, answer.name) == ("call_9", "get_weather")
    assert answer.content.startswith("The tool call was cancelled")
    result = await conversation.send("hello?")
    assert result.output == f"{SCRIPTED} You said: hello?"
