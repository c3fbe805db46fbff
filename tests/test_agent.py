"""The agent loop against the emulator: tool rounds, failures, limits, streaming, cancelling."""

import asyncio
import json
import re
from typing import Literal

import attrs
import pytest

from pathors_async import (
    Agent,
    AgentRun,
    APIError,
    InternalServerError,
    MaxTurnsExceeded,
    Message,
    RunResult,
    StreamError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolContext,
    ToolFailure,
    ToolRegistry,
    ToolResult,
    TurnFinished,
    Usage,
)
from pathors_async._dispatch import CANCELLED_TEXT
from pathors_async._state import sum_usage as _sum_usage
from pathors_async.testing._responder import SCRIPTED


def make_tools():
    tools = ToolRegistry(timeout=5)

    @tools.tool
    async def get_weather(location: str, unit: Literal["c", "f"] = "c") -> str:
        """Get the current weather in a city.

        Args:
            location: City name.
            unit: Temperature unit.
        """
        return f"22 {unit} in {location}"

    @tools.tool
    def get_time(city: str) -> str:
        """Get the local time in a city."""
        return f"10:00 in {city}"

    @tools.tool
    async def whoami(ctx: ToolContext[dict]) -> str:
        """Say who is asking."""
        return f"{ctx.deps['user']} in session {ctx.session_id}"

    @tools.tool
    def broken(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(reason)

    return tools


@pytest.fixture
def tools():
    registry = make_tools()
    yield registry
    registry.close()


@pytest.fixture
def agent(client, tools):
    return Agent(client, tools=tools)


def roles(messages):
    return [m.role for m in messages]


def assert_valid(transcript):
    """Every tool call in the transcript is answered by a tool message right after it."""
    for position, message in enumerate(transcript):
        if message.role == "assistant" and message.tool_calls:
            answers = transcript[position + 1 : position + 1 + len(message.tool_calls)]
            assert [a.role for a in answers] == ["tool"] * len(message.tool_calls)
            assert [a.tool_call_id for a in answers] == [c.id for c in message.tool_calls]


# ------------------------------------------------------------------ runs


async def test_a_question_answered_with_a_tool(agent, fake):
    result = await agent.run("What's the weather in Taipei?")
    assert isinstance(result, RunResult)
    assert result.output == f"{SCRIPTED} Tool results: get_weather: 22 c in Taipei"
    assert roles(result.messages) == ["user", "assistant", "tool", "assistant"]
    assert result.turns == 2
    assert len(result.completions) == 2
    assert result.stop_reason == "stop"
    assert [r.content for r in result.tool_results] == ["22 c in Taipei"]
    assert result.new_messages == result.messages[1:]
    # The session from the first answer is sent with every later request of the run.
    assert result.session_id
    assert [r.session_id for r in fake.requests] == [None, result.session_id]
    assert fake.requests[0].body["tools"] == agent.tools.definitions
    assert result.usage == Usage()  # the service reports -1: unknown


async def test_several_tool_rounds(agent, fake):
    fake.reply_tool_calls([{"name": "get_weather", "arguments": {"location": "Oslo"}}])
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    fake.reply("Cold and early.")
    result = await agent.run("Weather and time in Oslo?")
    assert result.output == "Cold and early."
    assert result.turns == 3
    assert roles(result.messages) == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert [r.content for r in result.tool_results] == ["22 c in Oslo", "10:00 in Oslo"]
    # "full" history: each request carries the whole transcript so far.
    assert [len(r.body["messages"]) for r in fake.requests] == [1, 3, 5]


async def test_parallel_tool_calls_run_together_and_answer_in_order(client, fake):
    tools = ToolRegistry()
    both_started = asyncio.Event()
    started = []

    @tools.tool
    async def slow(name: str) -> str:
        started.append(name)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()  # each waits for the other: only works if concurrent
        return name.upper()

    fake.reply_tool_calls(
        [{"name": "slow", "arguments": {"name": "a"}}, {"name": "slow", "arguments": {"name": "b"}}]
    )
    fake.reply("done")
    result = await Agent(client, tools=tools).run("go")
    assert [m.content for m in result.messages if m.role == "tool"] == ["A", "B"]
    assert_valid(result.messages)


async def test_instructions_are_sent_first_but_not_kept(client, fake, tools):
    agent = Agent(
        client, tools=tools, instructions="Answer in one line.", extra_body={"temperature": 0}
    )
    result = await agent.run("hi")
    assert fake.requests[0].body["messages"][0] == {
        "role": "system",
        "content": "Answer in one line.",
    }
    assert fake.requests[0].body["temperature"] == 0
    assert roles(result.messages) == ["user", "assistant"]


async def test_messages_and_a_session_as_input(agent, fake):
    fake.reply("again")
    result = await agent.run(
        [
            {"role": "user", "content": "a"},
            Message(role="assistant", content="b"),
            {"role": "user", "content": "c"},
        ],
        session_id="s-5",
        deps={"user": "ada"},
    )
    assert result.session_id == "s-5"
    assert result.new_messages == [Message(role="assistant", content="again")]
    assert fake.requests[0].session_id == "s-5"


async def test_deps_and_the_session_reach_the_tools(agent, fake):
    fake.reply_tool_calls([{"name": "whoami", "arguments": {}}])
    fake.reply("ok")
    result = await agent.run("who am I?", session_id="s-1", deps={"user": "ada"})
    assert result.tool_results[0].content == "ada in session s-1"


async def test_length_is_reported_as_such(agent, fake):
    fake.reply("cut sh", finish_reason="length")
    result = await agent.run("tell me everything")
    assert (result.output, result.stop_reason) == ("cut sh", "length")


async def test_retried_attempts_are_not_turns(agent, fake, retries):
    fake.fail_next(503)
    result = await agent.run("hi")
    assert result.turns == 1
    assert len(fake.requests) == 2


def test_usage_is_summed_and_unknown_parts_stay_unknown():
    assert _sum_usage([Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)] * 2) == Usage(
        prompt_tokens=2, completion_tokens=4, total_tokens=6
    )
    assert _sum_usage([Usage(prompt_tokens=1, total_tokens=3), None]) == Usage()
    assert _sum_usage([Usage(prompt_tokens=1), Usage(prompt_tokens=2)]) == Usage(prompt_tokens=3)
    assert _sum_usage([]) == Usage()


# ------------------------------------------------------------------ tool failures reach the model


async def test_every_tool_failure_reaches_the_model_and_the_run_recovers(agent, fake):
    fake.reply_tool_calls(
        [
            {"name": "get_wether", "arguments": {"location": "Oslo"}},
            {"name": "get_weather", "arguments": "{not json"},
            {"name": "get_weather", "arguments": {"location": 5}},
            {"name": "broken", "arguments": {"reason": "database down"}},
        ]
    )
    fake.reply_tool_calls([{"name": "get_weather", "arguments": {"location": "Oslo"}}])
    fake.reply("Recovered: 22 c in Oslo.")
    result = await agent.run("weather in Oslo?")
    assert result.output == "Recovered: 22 c in Oslo."
    failures = [r.failure for r in result.tool_results]
    assert failures == [
        ToolFailure.UNKNOWN_TOOL,
        ToolFailure.INVALID_JSON,
        ToolFailure.INVALID_ARGUMENTS,
        ToolFailure.EXCEPTION,
        None,
    ]
    sent = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert [m["content"].split(":")[0] for m in sent] == [
        "There is no tool named 'get_wether'. Did you mean 'get_weather'? Available tools",
        "The arguments for tool 'get_weather' are not valid JSON",
        "Invalid arguments for tool 'get_weather'",
        "The tool 'broken' failed",
    ]
    assert_valid(result.messages)


async def test_a_tool_timeout_reaches_the_model(client, fake):
    tools = ToolRegistry()

    @tools.tool(timeout=0.05)
    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    fake.reply_tool_calls([{"name": "hang", "arguments": {}}])
    result = await Agent(client, tools=tools).run("go")
    assert result.tool_results[0].failure is ToolFailure.TIMEOUT
    assert result.output.endswith(
        "Tool results: hang: The tool 'hang' did not finish within 0.05 s and was stopped."
    )


# ------------------------------------------------------------------ ending well


async def test_max_turns_raises_with_the_transcript(client, fake, tools):
    agent = Agent(client, tools=tools, max_turns=2)
    for _ in range(2):
        fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    with pytest.raises(MaxTurnsExceeded, match="each of its 2 answers") as info:
        await agent.run("loop")
    error = info.value
    assert roles(error.messages) == ["user", "assistant", "tool", "assistant", "tool"]
    assert_valid(error.messages)
    assert error.last_completion is not None
    assert error.last_completion.choices[0].finish_reason == "tool_calls"
    assert len(fake.requests) == 2


async def test_max_turns_can_return_instead(client, fake, tools):
    agent = Agent(client, tools=tools, max_turns=1, on_max_turns="return")
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    result = await agent.run("loop")
    assert result.max_turns_reached
    assert result.turns == 1
    assert roles(result.messages) == ["user", "assistant", "tool"]
    # Continue where it stopped, with the transcript it returned.
    more = await Agent(client, tools=tools).run(result.messages, session_id=result.session_id)
    assert more.output.startswith(SCRIPTED)


async def test_a_failed_request_mid_run_carries_the_transcript(client, fake, tools):
    def fail_the_next_request(event):
        if isinstance(event, ToolCallFinished):
            fake.fail_next(500)  # the run's second request

    agent = Agent(client, tools=tools, on_event=fail_the_next_request)
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    with pytest.raises(InternalServerError) as info:
        await agent.run("time in Oslo?")
    transcript = info.value.messages
    assert roles(transcript) == ["user", "assistant", "tool"]
    session_id = fake.requests[1].session_id
    assert session_id is not None
    retried = await Agent(client, tools=tools).run(transcript, session_id=session_id)
    assert retried.output.endswith("get_time: 10:00 in Oslo")


async def test_an_answer_without_choices_is_an_error_with_the_transcript(agent, fake):
    fake.fail_next(200, body={"id": "x", "object": "chat.completion", "choices": []})
    with pytest.raises(APIError, match="had no choices, so the turn has no answer") as info:
        await agent.run("hi")
    assert roles(info.value.messages) == ["user"]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_on_event_sees_every_event_of_a_plain_run(client, fake, tools, asynchronous):
    seen = []

    async def record_async(event):
        seen.append(event)

    agent = Agent(client, tools=tools, on_event=record_async if asynchronous else seen.append)
    await agent.run("What's the weather in Taipei?")
    assert [type(e) for e in seen] == [
        TurnFinished,
        ToolCallStarted,
        ToolCallFinished,
        TurnFinished,
    ]
    started, finished = seen[1], seen[2]
    assert (started.name, json.loads(started.arguments)) == ("get_weather", {"location": "Taipei"})
    assert started.id == finished.result.tool_call_id
    assert finished.failure is None
    assert finished.duration >= 0
    assert [e.turn for e in seen if isinstance(e, TurnFinished)] == [1, 2]


def test_options_are_checked(client):
    with pytest.raises(ValueError, match="max_turns must be a positive int"):
        Agent(client, max_turns=0)
    with pytest.raises(ValueError, match="on_max_turns must be 'raise' or 'return'"):
        Agent(client, on_max_turns="ignore")
    with pytest.raises(
        TypeError,
        match=re.escape(
            "tools must be a ToolSource (a ToolRegistry, or an object with tool_definitions, "
            "dispatch and aclose), not str"
        ),
    ):
        Agent(client, tools="get_time")


def test_a_list_of_functions_gets_a_hint(client):
    def get_time(city: str) -> str:
        """Get the local time in a city."""
        return city

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        return city

    with pytest.raises(
        TypeError,
        match=re.escape(
            "tools must be a ToolSource (a ToolRegistry) or a list of them, not a list of "
            "functions; to give the agent plain functions, register them: "
            "Agent(client, tools=ToolRegistry([get_time, get_weather]))"
        ),
    ):
        Agent(client, tools=[get_time, get_weather])
    with pytest.raises(TypeError, match=re.escape("ToolRegistry([get_time])")):
        Agent(client, tools=[ToolRegistry(), get_time])
    assert Agent(client, tools=ToolRegistry([get_time, get_weather])).tools.names == [
        "get_time",
        "get_weather",
    ]


def test_the_settings_are_frozen_and_shared(client, tools):
    agent = Agent(client, tools=tools, instructions="Be brief.", max_turns=3)
    settings = agent.settings
    assert (settings.client, settings.tools, settings.instructions) == (client, tools, "Be brief.")
    assert (agent.max_turns, agent.on_max_turns, agent.on_event, agent.extra_body) == (
        3,
        "raise",
        None,
        None,
    )
    assert agent.client is client
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.max_turns = 5
    assert repr(Agent(client)) == "Agent(tools=ToolRegistry([]), max_turns=10)"


# ------------------------------------------------------------------ streaming runs


async def test_a_streamed_run_gives_one_event_stream(agent, fake):
    async with agent.run_stream("What's the weather in Taipei?") as run:
        assert isinstance(run, AgentRun)
        with pytest.raises(RuntimeError, match="the run has not finished"):
            _ = run.result
        events = [event async for event in run]
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["TurnFinished", "ToolCallStarted", "ToolCallFinished"]
    assert kinds[-1] == "TurnFinished"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == run.result.output == f"{SCRIPTED} Tool results: get_weather: 22 c in Taipei"
    assert {e.turn for e in events if isinstance(e, TextDelta)} == {2}
    assert all(r.body["stream"] for r in fake.requests)
    assert run.session_id == run.result.session_id


async def test_a_streamed_run_that_fails_carries_the_transcript(agent, fake):
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    fake.reply("one two three")

    async def consume():
        async with agent.run_stream("time?") as run:
            async for event in run:
                if isinstance(event, ToolCallFinished):
                    fake.cut_stream_next(after=2)  # break the second turn's stream

    with pytest.raises(StreamError) as info:
        await consume()
    assert roles(info.value.messages) == ["user", "assistant", "tool"]
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "one "


# ------------------------------------------------------------------ cancelling


def acquired(client):
    return len(client._transport.http_session.connector._acquired)


async def test_cancelling_during_a_tool_answers_every_call(client, fake):
    tools = ToolRegistry()
    started, cancelled = asyncio.Event(), asyncio.Event()

    @tools.tool
    async def hang() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    @tools.tool
    async def quick() -> str:
        return "quick"

    agent = Agent(client, tools=tools)
    conversation = agent.conversation()
    fake.reply_tool_calls([{"name": "quick", "arguments": {}}, {"name": "hang", "arguments": {}}])
    task = asyncio.create_task(conversation.send("go"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    transcript = conversation.messages
    assert roles(transcript) == ["user", "assistant", "tool", "tool"]
    assert_valid(transcript)
    assert [m.content for m in transcript[2:]] == ["quick", CANCELLED_TEXT]
    assert transcript[3].failure is ToolFailure.CANCELLED
    assert acquired(client) == 0
    # The conversation is usable again, and continues from the valid transcript.
    assert (await conversation.resume()).output.startswith(SCRIPTED)


async def test_cancelling_during_a_stream_closes_it(agent, client, fake):
    fake.stall_stream_next(after=2)
    streaming = asyncio.Event()
    runs = []

    async def consume():
        async with agent.run_stream("hello") as run:
            runs.append(run)
            async for event in run:
                if isinstance(event, TextDelta):
                    streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    assert acquired(client) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert acquired(client) == 0
    assert roles(runs[0].messages) == ["user"]


async def test_breaking_out_of_a_streamed_run_during_tools_cancels_them(client, fake):
    tools = ToolRegistry()
    cancelled = asyncio.Event()

    @tools.tool
    async def hang() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    @tools.tool
    async def quick() -> str:
        return "quick"

    fake.reply_tool_calls([{"name": "hang", "arguments": {}}, {"name": "quick", "arguments": {}}])
    async with Agent(client, tools=tools).run_stream("go") as run:
        async for event in run:
            if isinstance(event, ToolCallFinished):
                break  # quick is done, hang still runs
    assert cancelled.is_set()
    transcript = run.messages
    assert_valid(transcript)
    assert [(m.content, m.failure) for m in transcript[2:]] == [
        (CANCELLED_TEXT, ToolFailure.CANCELLED),
        ("quick", None),
    ]


async def test_breaking_out_before_the_tools_start_answers_them_as_cancelled(agent, fake):
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    async with agent.run_stream("go") as run:
        async for event in run:
            if isinstance(event, ToolCallStarted):
                break
    assert_valid(run.messages)
    assert run.messages[-1].failure is ToolFailure.CANCELLED


async def test_a_message_or_a_message_dict_as_input(agent, fake):
    assert (await agent.run(Message(role="user", content="a"))).output == f"{SCRIPTED} You said: a"
    result = await agent.run({"role": "user", "content": "b"})
    assert result.messages[0] == Message(role="user", content="b")
    assert agent.instructions is None


async def test_a_streamed_run_closed_before_it_starts_never_starts(agent, fake):
    conversation = agent.conversation()
    run = conversation.stream("never sent")
    await run.aclose()
    assert [event async for event in run] == []
    assert (run.messages, run.session_id) == ([], None)
    with pytest.raises(RuntimeError, match="the run has not finished"):
        _ = run.result
    assert conversation.messages == []
    assert fake.requests == []


async def test_the_registrys_max_concurrency_limits_a_rounds_calls(client, fake):
    tools = ToolRegistry(max_concurrency=2, timeout=10)
    running, most = [0], [0]
    pair = asyncio.Event()

    @tools.tool
    async def step(n: int) -> str:
        """Take one step."""
        running[0] += 1
        most[0] = max(most[0], running[0])
        if running[0] == 2:
            pair.set()  # two run at once: both may finish
        await pair.wait()
        await asyncio.sleep(0)  # let any other started call run up to here
        running[0] -= 1
        return str(n)

    fake.reply_tool_calls([{"name": "step", "arguments": {"n": n}} for n in range(4)])
    fake.reply("done")
    result = await Agent(client, tools=tools).run("go")
    assert [m.content for m in result.messages if m.role == "tool"] == ["0", "1", "2", "3"]
    assert most[0] == 2


class RemoteTools:
    """A second kind of tool source: tools "behind a network", kept in memory."""

    def __init__(self):
        self.closed = False

    async def tool_definitions(self):
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        return [{"type": "function", "function": {"name": "double", "parameters": schema}}]

    async def dispatch(self, tool_call, context=None):
        n = json.loads(tool_call.function.arguments)["n"]
        return ToolResult(role="tool", tool_call_id=tool_call.id, name="double", content=str(n * 2))

    async def aclose(self):
        self.closed = True


async def test_an_agent_takes_several_tool_sources(client, fake, tools):
    remote = RemoteTools()
    agent = Agent(client, tools=[tools, remote])
    fake.reply_tool_calls(
        [
            {"name": "double", "arguments": {"n": 21}},
            {"name": "get_weather", "arguments": {"location": "Oslo"}},
        ]
    )
    fake.reply("Done.")
    result = await agent.run("Double 21, and the weather in Oslo?")
    assert [r.content for r in result.tool_results] == ["42", "22 c in Oslo"]
    assert [r.failure for r in result.tool_results] == [None, None]
    sent = [d["function"]["name"] for d in fake.requests[0].body["tools"]]
    assert sent == [*tools.names, "double"]
    assert not remote.closed  # the sources belong to the application


def test_tool_names_must_be_unique_across_sources(client, tools):
    other = ToolRegistry()

    @other.tool
    def get_time(city: str) -> str:
        """Get the local time in a city."""
        return city

    with pytest.raises(ValueError, match="two tool sources define a tool named 'get_time'"):
        Agent(client, tools=[tools, other])


async def test_an_empty_list_of_sources_offers_no_tools(client, fake):
    fake.reply("Hi.")
    result = await Agent(client, tools=[]).run("Hello")
    assert result.output == "Hi."
    assert fake.requests[0].body.get("tools") is None


# ------------------------------------------------- without on_event: the same run


def _comparable(result: RunResult) -> tuple:
    """A run's result without what differs between two runs (durations, ids, times)."""
    return (
        result.output,
        [(m.role, m.content, m.name, len(m.tool_calls or ())) for m in result.messages],
        result.turns,
        result.usage,
        [(r.name, r.content, r.failure) for r in result.tool_results],
        result.stop_reason,
        result.max_turns_reached,
        len(result.new_messages),
    )


def _script(fake, case: str) -> None:
    if case == "cut off mid-call":
        fake.reply_tool_calls(
            [{"name": "get_weather", "arguments": {"location": "Oslo"}}], finish_reason="length"
        )
        return
    fake.reply_tool_calls(
        [
            {"name": "get_weather", "arguments": {"location": "Oslo"}},
            {"name": "broken", "arguments": {"reason": "no"}},
            {"name": "nope", "arguments": {}},
        ]
    )
    fake.reply_tool_calls([{"name": "get_time", "arguments": {"city": "Oslo"}}])
    if case == "answered":
        fake.reply("Cold and early.")


@pytest.mark.parametrize("case", ["answered", "cut off mid-call", "max turns"])
async def test_a_run_without_on_event_is_the_run_with_it(client, tools, fake, case):
    """`drive` without a listener runs the loop as one coroutine: nothing else may differ."""
    results = []
    for hook in (None, lambda event: None):
        turns = 3 if case == "answered" else 2
        agent = Agent(client, tools=tools, on_event=hook, max_turns=turns, on_max_turns="return")
        _script(fake, case)
        results.append(_comparable(await agent.run("Weather and time in Oslo?")))
    assert results[0] == results[1]
    assert results[0][0] or case != "answered"


async def test_a_failed_request_without_on_event_keeps_the_transcript(client, fake):
    registry = ToolRegistry()

    @registry.tool
    async def arm() -> str:
        """Make the run's next request fail."""
        fake.fail_next(500, times=10)
        return "armed"

    fake.reply_tool_calls([{"name": "arm", "arguments": {}}])
    with pytest.raises(InternalServerError) as caught:
        await Agent(client, tools=registry).run("Go")
    assert roles(caught.value.messages) == ["user", "assistant", "tool"]
    assert caught.value.messages[-1].content == "armed"
