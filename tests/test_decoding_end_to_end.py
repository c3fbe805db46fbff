"""What real servers send that the converter and the accumulator must take in: end to end.

Each case is sent by the emulator as a raw 200 body (`fail_next(200, body=...)`), whole
or as an event stream, so it goes through the client exactly as a real server's would.
"""

import json

import pytest

from pathors_async import Agent, Message, ToolRegistry

HI = [{"role": "user", "content": "hi"}]
LONE = "\ud800"


def completion(message, *, finish_reason="stop"):
    return {
        "id": "chatcmpl-odd",
        "object": "chat.completion",
        "created": 1,
        "model": "odd",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }


def event_stream(*deltas, finish_reason="stop"):
    """An event stream of one chunk per delta, then a closing chunk and [DONE]."""
    chunks = [
        {"id": "chatcmpl-odd", "created": 1, "model": "odd", "choices": [{"index": 0, "delta": d}]}
        for d in deltas
    ]
    chunks.append(
        {
            "id": "chatcmpl-odd",
            "created": 1,
            "model": "odd",
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}],
        }
    )
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


def answer_whole(fake, message, **fields):
    fake.fail_next(200, body=completion(message, **fields))


def answer_streamed(fake, *deltas, **fields):
    fake.fail_next(200, body=event_stream(*deltas, **fields), content_type="text/event-stream")


async def create(client):
    return await client.chat.completions.create(messages=HI)


async def streamed(client):
    async with client.chat.completions.stream(messages=HI) as stream:
        return await stream.get_final_completion()


PARTS = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]


async def test_text_parts_are_joined_whole_and_streamed(client, fake):
    answer_whole(fake, {"role": "assistant", "content": PARTS})
    whole = await create(client)
    answer_streamed(fake, {"role": "assistant", "content": PARTS[:1]}, {"content": PARTS[1:]})
    final = await streamed(client)
    expected = Message(role="assistant", content="Hello, world")
    assert whole.choices[0].message == final.choices[0].message == expected


CALL = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}


async def test_a_tool_call_without_id_gets_the_same_id_whole_and_streamed(client, fake):
    answer_whole(fake, {"role": "assistant", "tool_calls": [CALL]}, finish_reason="tool_calls")
    whole = await create(client)
    answer_streamed(
        fake,
        {"role": "assistant", "tool_calls": [{"index": 0, **CALL}]},
        finish_reason="tool_calls",
    )
    final = await streamed(client)
    [call] = whole.choices[0].message.tool_calls or ()
    assert call.id.startswith("call_0_")
    assert whole.choices[0].message == final.choices[0].message


@pytest.mark.parametrize("stream", [False, True])
async def test_an_agent_answers_a_tool_call_that_came_without_id(client, fake, stream):
    tools = ToolRegistry()

    @tools.tool
    def get_weather(city: str) -> str:
        """Get the weather."""
        return f"sunny in {city}"

    if stream:
        delta = {"role": "assistant", "tool_calls": [{"index": 0, **CALL}]}
        answer_streamed(fake, delta, finish_reason="tool_calls")
    else:
        answer_whole(fake, {"role": "assistant", "tool_calls": [CALL]}, finish_reason="tool_calls")
    agent = Agent(client, tools=tools)
    if stream:
        async with agent.run_stream("weather?") as run:
            async for _ in run:
                pass
        result = run.result
    else:
        result = await agent.run("weather?")
    assistant, answer = result.messages[1:3]
    [call] = assistant.tool_calls or ()
    assert answer.tool_call_id == call.id
    assert answer.content == "sunny in Oslo"
    assert "sunny in Oslo" in (result.output or "")


async def test_two_streamed_calls_on_one_index_stay_two(client, fake):
    first = {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}
    second = {"index": 0, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}
    answer_streamed(
        fake,
        {"role": "assistant", "tool_calls": [first]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
        {"tool_calls": [second]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "[]"}}]},
        finish_reason="tool_calls",
    )
    final = await streamed(client)
    calls = final.choices[0].message.tool_calls or ()
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", "{}"),
        ("b", "g", "[]"),
    ]


@pytest.mark.parametrize(("role", "content"), [("model", "hi"), ("system", None)])
async def test_an_odd_role_is_an_assistant_message_whole_and_streamed(client, fake, role, content):
    answer_whole(fake, {"role": role, "content": content})
    whole = await create(client)
    answer_streamed(fake, {"role": role, "content": content})
    final = await streamed(client)
    expected = Message(role="assistant", content=content)
    assert whole.choices[0].message == final.choices[0].message == expected


@pytest.mark.parametrize("stream", [False, True])
async def test_lone_surrogates_do_not_break_the_next_turn(client, fake, stream):
    text = f"bad {LONE} text"
    if stream:
        answer_streamed(fake, {"role": "assistant", "content": text})
    else:
        answer_whole(fake, {"role": "assistant", "content": text})
    conversation = Agent(client).conversation()
    if stream:
        async with conversation.stream("hi") as run:
            async for _ in run:
                pass
        first = run.result
    else:
        first = await conversation.send("hi")
    assert first.output == "bad \ufffd text"
    fake.reply("fine")
    second = await conversation.send("and now?")  # sends the first answer back: UTF-8 safe
    assert second.output == "fine"
    assert fake.requests[-1].body["messages"][1]["content"] == "bad \ufffd text"
