"""Cancellation never leaves a tool call unanswered: asyncio, asyncio.timeout, anyio scopes."""

import asyncio
import sys
import threading

import anyio
import pytest

from pathors_async import (
    Agent,
    TextDelta,
    ToolCallStarted,
    ToolFailure,
    ToolRegistry,
    TurnFinished,
)
from pathors_async.testing import Reply, ScriptedToolCall
from pathors_async.testing._responder import SCRIPTED


def assert_valid(transcript):
    """Every tool call is answered by a tool message right after it, in order."""
    for position, message in enumerate(transcript):
        if message.role == "assistant" and message.tool_calls:
            answers = transcript[position + 1 : position + 1 + len(message.tool_calls)]
            assert [a.role for a in answers] == ["tool"] * len(message.tool_calls)
            assert [a.tool_call_id for a in answers] == [c.id for c in message.tool_calls]


def roles(messages):
    return [m.role for m in messages]


class Hanging:
    """A registry whose tools hang until released: one async, one sync; `started` when both run."""

    def __init__(self):
        self.tools = ToolRegistry()
        self.started = asyncio.Event()
        self.release = threading.Event()
        self.count = 0
        loop = asyncio.get_running_loop()

        def begun():
            self.count += 1
            if self.count == 2:
                self.started.set()

        @self.tools.tool
        async def hang_async() -> str:
            """Hang (async)."""
            begun()
            await asyncio.Event().wait()
            return "never"

        @self.tools.tool
        def hang_sync() -> str:
            """Hang (sync)."""
            loop.call_soon_threadsafe(begun)
            self.release.wait()
            return "released"

    def close(self):
        self.release.set()
        self.tools.close()


@pytest.fixture
async def hanging():
    registry = Hanging()
    yield registry
    registry.close()


def script_both(fake):
    fake.reply_tool_calls([{"name": "hang_async", "arguments": {}}, {"name": "hang_sync"}])


async def check_cancelled_then_continue(conversation, fake):
    transcript = conversation.messages
    assert roles(transcript) == ["user", "assistant", "tool", "tool"]
    assert_valid(transcript)
    assert [m.failure for m in transcript[2:]] == [ToolFailure.CANCELLED] * 2
    assert_valid(conversation.from_dict(conversation.to_dict(), agent=conversation.agent).messages)
    # The next turn is accepted by the (strict) emulator.
    result = await conversation.send("and now?")
    assert result.output == f"{SCRIPTED} You said: and now?"


@pytest.mark.parametrize("streamed", [False, True])
async def test_an_anyio_cancel_scope_leaves_every_call_answered(client, fake, hanging, streamed):
    conversation = Agent(client, tools=hanging.tools).conversation()
    script_both(fake)

    async def talk():
        if streamed:
            async with conversation.stream("go") as run:
                async for _ in run:
                    pass
        else:
            await conversation.send("go")

    async with anyio.create_task_group() as group:
        group.start_soon(talk)
        await hanging.started.wait()
        group.cancel_scope.cancel()
    await check_cancelled_then_continue(conversation, fake)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in Python 3.11")
@pytest.mark.parametrize("streamed", [False, True])
async def test_asyncio_timeout_leaves_every_call_answered(client, fake, hanging, streamed):
    conversation = Agent(client, tools=hanging.tools).conversation()
    script_both(fake)
    loop = asyncio.get_running_loop()

    async def expire_when_started(deadline):
        await hanging.started.wait()
        deadline.reschedule(loop.time())

    async def talk_with_a_deadline():
        async with asyncio.timeout(None) as deadline:
            watchers.append(asyncio.create_task(expire_when_started(deadline)))
            if streamed:
                async with conversation.stream("go") as run:
                    _ = [event async for event in run]
            else:
                await conversation.send("go")

    watchers = []
    with pytest.raises(TimeoutError):
        await talk_with_a_deadline()
    await watchers[0]
    await check_cancelled_then_continue(conversation, fake)


async def test_plain_cancellation_of_run_stream_answers_every_call(client, fake, hanging):
    agent = Agent(client, tools=hanging.tools)
    script_both(fake)
    runs = []

    async def consume():
        async with agent.run_stream("go") as run:
            runs.append(run)
            async for _ in run:
                pass

    task = asyncio.create_task(consume())
    await hanging.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert roles(runs[0].messages) == ["user", "assistant", "tool", "tool"]
    assert_valid(runs[0].messages)
    more = await agent.run([*runs[0].messages, {"role": "user", "content": "next"}])
    assert more.output == f"{SCRIPTED} You said: next"


# ------------------------------------------------------------------ other ways a run ends


@pytest.mark.parametrize("streamed", [False, True])
async def test_length_with_tool_calls_answers_them_without_running_them(client, fake, streamed):
    tools = ToolRegistry()
    ran = []

    @tools.tool
    def get_time(city: str) -> str:
        """Get the local time in a city."""
        ran.append(city)
        return "10:00"

    fake.reply_tool_calls(
        [{"name": "get_time", "arguments": '{"city": "Os'}],
        content="Let me",
        finish_reason="length",
    )
    conversation = Agent(client, tools=tools).conversation()
    if streamed:
        async with conversation.stream("time in Oslo?") as run:
            _ = [event async for event in run]
        result = run.result
    else:
        result = await conversation.send("time in Oslo?")
    assert ran == []
    assert result.stop_reason == "length"
    assert result.output == "Let me"
    assert roles(result.messages) == ["user", "assistant", "tool"]
    assert_valid(result.messages)
    answer = result.messages[-1]
    assert answer.failure is ToolFailure.CANCELLED
    assert "cut off" in answer.content
    assert result.tool_results == [answer]
    assert (await conversation.send("thanks")).output == f"{SCRIPTED} You said: thanks"


async def test_a_stream_never_entered_changes_nothing(client, fake):
    conversation = Agent(client).conversation()
    run = conversation.stream("never sent")
    assert conversation.messages == []
    assert conversation.to_dict()["messages"] == []
    assert (await conversation.send("hi")).output == f"{SCRIPTED} You said: hi"
    del run
    assert roles(conversation.messages) == ["user", "assistant"]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_an_on_event_hook_that_raises_leaves_the_conversation_free(
    client, fake, asynchronous
):
    def hook(event):
        if isinstance(event, TurnFinished):
            raise ConnectionError("metrics backend down")

    async def async_hook(event):
        hook(event)

    conversation = Agent(client, on_event=async_hook if asynchronous else hook).conversation()
    with pytest.raises(ConnectionError, match="metrics backend down"):
        await conversation.send("hi")
    assert roles(conversation.messages) == ["user", "assistant"]
    with pytest.raises(ConnectionError):
        await conversation.send("again")
    assert roles(conversation.messages) == ["user", "assistant", "user", "assistant"]
    with pytest.raises(ConnectionError):
        await stream_all(conversation.stream("streamed"))
    assert roles(conversation.messages)[-2:] == ["user", "assistant"]
    assert len(conversation.messages) == 6


async def stream_all(run):
    async with run:
        return [event async for event in run]


async def test_an_on_event_hook_that_raises_mid_tools_answers_the_calls(client, fake, hanging):
    def hook(event):
        if isinstance(event, ToolCallStarted):
            raise ConnectionError("metrics backend down")

    conversation = Agent(client, tools=hanging.tools, on_event=hook).conversation()
    script_both(fake)
    with pytest.raises(ConnectionError):
        await stream_all(conversation.stream("go"))
    assert roles(conversation.messages) == ["user", "assistant", "tool", "tool"]
    assert_valid(conversation.messages)


async def test_to_dict_during_a_run_saves_the_last_consistent_state(client, fake, hanging):
    conversation = Agent(client, tools=hanging.tools).conversation()
    await conversation.send("hello")
    script_both(fake)
    task = asyncio.create_task(conversation.send("go"))
    await hanging.started.wait()
    saved = conversation.to_dict()
    snapshot = conversation.messages
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant", "user"]
    assert roles(snapshot) == ["user", "assistant", "user"]


async def test_a_turn_cut_mid_request_continues_in_full_history_mode(client, fake, hanging):
    # The service answered (and kept) a turn the client never received: with
    # history="full" the next request carries the client's transcript, which wins.
    asked, gate, answered = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def responder(request):
        text = request.messages[-1]["content"]
        if text != "lost":
            return f"re: {text}"
        asked.set()
        await gate.wait()
        answered.set()  # the emulator keeps the reply in the same step
        return Reply(tool_calls=(ScriptedToolCall(name="hang_sync", arguments="{}", id="c1"),))

    fake.responder = responder
    conversation = Agent(client, tools=hanging.tools).conversation(session_id="s-cut")
    await conversation.send("hello")
    task = asyncio.create_task(conversation.send("lost"))
    await asked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    await answered.wait()
    assert (await conversation.send("still there?")).output == "re: still there?"
    assert roles(conversation.messages) == ["user", "assistant", "user", "user", "assistant"]
    server = [m["content"] for m in fake.sessions["s-cut"].messages if m["role"] == "user"]
    assert server == ["hello", "lost", "still there?"]


async def test_an_anyio_cancel_scope_mid_stream_closes_it(client, fake):
    fake.stall_stream_next(after=2)
    conversation = Agent(client).conversation()
    streaming = asyncio.Event()

    async def talk():
        async with conversation.stream("hello there") as run:
            async for event in run:
                if isinstance(event, TextDelta):
                    streaming.set()

    async with anyio.create_task_group() as group:
        group.start_soon(talk)
        await streaming.wait()
        group.cancel_scope.cancel()
    assert (
        len(client._transport.http_session.connector._acquired) == 0
    )  # the stream's connection is released
    assert roles(conversation.messages) == ["user"]
    fake.release()
    assert (await conversation.send("again")).output == f"{SCRIPTED} You said: again"


async def test_an_anyio_cancel_scope_around_run_stream(client, fake, hanging):
    agent = Agent(client, tools=hanging.tools)
    script_both(fake)
    runs = []

    async def consume():
        async with agent.run_stream("go") as run:
            runs.append(run)
            async for _ in run:
                pass

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await hanging.started.wait()
        group.cancel_scope.cancel()
    transcript = runs[0].messages
    assert roles(transcript) == ["user", "assistant", "tool", "tool"]
    assert_valid(transcript)
    more = await agent.run([*transcript, {"role": "user", "content": "next"}])
    assert more.output == f"{SCRIPTED} You said: next"
