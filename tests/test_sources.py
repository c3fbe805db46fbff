"""Tool sources: the protocol, a second source written here, merging, and batches of calls."""

import asyncio
import json
import pathlib
import re

import pytest

from pathors_async import (
    FunctionCall,
    ToolCall,
    ToolCallBatch,
    ToolContext,
    ToolFailure,
    ToolRegistry,
    ToolResult,
    ToolSource,
)
from pathors_async._sources import CombinedSource, combine_sources, dispatch_as_completed


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


class RemoteTools:
    """A second kind of source: tools "behind a network", kept in memory for the test."""

    def __init__(self, handlers, name="remote"):
        self.handlers = handlers
        self.name = name
        self.closed = False
        self.contexts = []

    async def tool_definitions(self):
        return [
            {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
            for name in self.handlers
        ]

    async def dispatch(self, tool_call, context=None):
        self.contexts.append(context)
        value = await self.handlers[tool_call.function.name](
            json.loads(tool_call.function.arguments)
        )
        return ToolResult(
            role="tool",
            tool_call_id=tool_call.id,
            name=tool_call.function.name,
            content=str(value),
            value=value,
        )

    async def aclose(self):
        self.closed = True

    def __repr__(self):
        return f"RemoteTools({self.name!r})"


async def double(arguments):
    return arguments["n"] * 2


@pytest.fixture
def registry():
    tools = ToolRegistry()

    @tools.tool
    async def add(a: int, b: int) -> int:
        return a + b

    yield tools
    tools.close()


async def test_a_registry_and_the_test_source_are_tool_sources(registry):
    assert isinstance(registry, ToolSource)
    assert isinstance(RemoteTools({}), ToolSource)
    assert not isinstance(object(), ToolSource)
    assert await registry.tool_definitions() == registry.definitions


async def test_combined_sources_list_route_and_close(registry):
    remote = RemoteTools({"double": double})
    tools = combine_sources([registry, remote])
    assert isinstance(tools, CombinedSource)
    assert isinstance(tools, ToolSource)
    names = [d["function"]["name"] for d in await tools.tool_definitions()]
    assert names == ["add", "double"]
    context = ToolContext(session_id="s-1", deps={"user": "ada"})
    added = await tools.dispatch(call("add", '{"a": 1, "b": 2}'), context)
    doubled = await tools.dispatch(call("double", '{"n": 21}', "call_2"), context)
    assert (added.content, doubled.content, doubled.tool_call_id) == ("3", "42", "call_2")
    assert remote.contexts == [context]
    unknown = await tools.dispatch(call("dubble"))
    assert (unknown.failure, unknown.content) == (
        ToolFailure.UNKNOWN_TOOL,
        "There is no tool named 'dubble'. Did you mean 'double'? Available tools: add, double.",
    )
    await tools.aclose()
    assert remote.closed


async def test_dispatch_lists_the_definitions_first_when_not_listed_yet(registry):
    tools = combine_sources([RemoteTools({"double": double}), registry])
    assert (await tools.dispatch(call("double", '{"n": 2}'))).content == "4"


def test_duplicate_names_across_registries_are_refused_at_once(registry):
    other = ToolRegistry()

    @other.tool
    def add(a: int) -> int:
        return a

    with pytest.raises(ValueError, match="two tool sources define a tool named 'add'") as info:
        combine_sources([registry, other])
    assert str(info.value) == (
        "two tool sources define a tool named 'add': ToolRegistry(['add']) and "
        "ToolRegistry(['add']); tool names must be unique across sources: rename one "
        "(name=...) or leave it out"
    )


async def test_duplicate_names_from_any_source_are_refused_when_listed(registry):
    tools = combine_sources([registry, RemoteTools({"add": double})])
    with pytest.raises(ValueError, match="two tool sources define") as info:
        await tools.tool_definitions()
    assert str(info.value).startswith(
        "two tool sources define a tool named 'add': ToolRegistry(['add']) and "
        "RemoteTools('remote');"
    )


async def test_a_definition_without_a_name_is_refused(registry):
    class Nameless(RemoteTools):
        async def tool_definitions(self):
            return [{"type": "function", "function": {}}]

    with pytest.raises(TypeError, match="gave a definition without a name"):
        await combine_sources([registry, Nameless({})]).tool_definitions()


async def test_closing_a_combined_source_closes_every_source_then_raises_the_first_error():
    class Broken(RemoteTools):
        async def aclose(self):
            raise OSError("cannot close")

    last = RemoteTools({}, name="last")
    with pytest.raises(OSError, match="cannot close"):
        await CombinedSource([Broken({}), last]).aclose()
    assert last.closed
    assert repr(CombinedSource([last])) == "CombinedSource([RemoteTools('last')])"


def test_combining_one_source_gives_it_back(registry):
    assert combine_sources(registry) is registry
    assert combine_sources([registry]) is registry


def test_a_function_is_not_a_source():
    def get_weather(city: str) -> str:
        return city

    with pytest.raises(TypeError) as info:
        combine_sources([get_weather])
    assert str(info.value) == (
        "tools[0] is a function, not a tool source: put functions in a registry, "
        "e.g. ToolRegistry([get_weather])"
    )
    with pytest.raises(TypeError, match="tools is a function, not a tool source"):
        combine_sources(get_weather)
    with pytest.raises(TypeError, match=r"tools must be a ToolSource .* not str"):
        combine_sources("get_weather")
    with pytest.raises(TypeError, match=r"tools\[1\] must be a ToolSource .* not int"):
        combine_sources([ToolRegistry(), 3])


# ------------------------------------------------------------------ batches


def gated_source(count):
    gates = [asyncio.Event() for _ in range(count)]
    started = [asyncio.Event() for _ in range(count)]

    async def wait(arguments):
        started[arguments["i"]].set()
        await gates[arguments["i"]].wait()
        return arguments["i"]

    calls = [call("wait", json.dumps({"i": i}), f"call_{i}") for i in range(count)]
    return RemoteTools({"wait": wait}), gates, started, calls


async def test_answers_come_as_the_calls_finish():
    source, gates, _, calls = gated_source(3)
    order = []
    async with dispatch_as_completed(source, calls) as batch:
        assert isinstance(batch, ToolCallBatch)
        gates[2].set()
        async for index, result in batch:
            order.append((index, result.content))
            if index == 2:
                gates[0].set()
            if index == 0:
                gates[1].set()
    assert order == [(2, "2"), (0, "0"), (1, "1")]
    assert batch.pending == []


async def test_max_concurrency_starts_calls_as_others_finish():
    running = peak = 0
    gate, two = asyncio.Event(), asyncio.Event()

    async def work(arguments):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            two.set()
        await gate.wait()
        running -= 1
        return arguments["i"]

    source = RemoteTools({"work": work})
    calls = [call("work", json.dumps({"i": i}), f"c{i}") for i in range(7)]
    async with dispatch_as_completed(source, calls, max_concurrency=2) as batch:

        async def collect():
            return [answer async for answer in batch]

        collecting = asyncio.ensure_future(collect())
        await two.wait()
        gate.set()
        answers = dict(await collecting)
    assert sorted(answers) == list(range(7))
    assert [answers[i].content for i in range(7)] == [str(i) for i in range(7)]
    assert peak == 2


async def test_the_registrys_limit_is_the_default_for_its_batches():
    registry = ToolRegistry(max_concurrency=3)
    running = peak = 0

    @registry.tool
    async def work() -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return "ok"

    async with registry.dispatch_as_completed([call("work") for _ in range(9)]) as batch:
        assert len([answer async for answer in batch]) == 9
    assert peak == 3


async def test_stopping_early_answers_the_rest_synchronously_and_leaves_no_task():
    source, gates, started, calls = gated_source(4)
    gates[1].set()
    async with dispatch_as_completed(source, calls, max_concurrency=2) as batch:
        async for index, _ in batch:
            assert index == 1
            gates[2].set()
            await started[3].wait()  # call 2 finished and call 3 took its place
            break
        assert [index for index, _ in batch.pending] == [0, 2, 3]
        rest = batch.cancel()
        assert batch.cancel() == []
    assert [(index, result.failure) for index, result in rest] == [
        (0, ToolFailure.CANCELLED),
        (2, None),
        (3, ToolFailure.CANCELLED),
    ]
    assert rest[0][1].content == (
        "The tool call was cancelled before it finished; its result is unknown."
    )
    assert rest[0][1].tool_call_id == "call_0"
    assert batch.pending == []
    assert all(task.done() for task in batch._tasks)


async def test_a_cancelled_consumer_can_answer_every_call_before_any_await():
    source, _, started, calls = gated_source(3)
    answered, tasks = [], []
    entered = asyncio.Event()

    async def consumer():
        batch = dispatch_as_completed(source, calls, max_concurrency=2)
        try:
            entered.set()
            answered.extend([answer async for answer in batch])
        finally:
            answered.extend(batch.cancel())
            tasks.extend(batch._tasks)

    task = asyncio.create_task(consumer())
    await entered.wait()
    await started[1].wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(i, r.failure) for i, r in answered] == [(i, ToolFailure.CANCELLED) for i in range(3)]
    assert len(tasks) == 2  # max_concurrency: the third call never started
    await asyncio.wait(tasks)
    assert all(t.cancelled() for t in tasks)  # cancel() cancelled both


async def test_a_source_that_raises_is_answered_as_an_exception(caplog):
    async def broken(arguments):
        raise RuntimeError("the remote end hung up")

    async def empty(arguments):
        raise RuntimeError

    source = RemoteTools({"broken": broken, "empty": empty})
    calls = [call("broken"), call("empty", call_id="call_2")]
    async with dispatch_as_completed(source, calls) as batch:
        answers = dict([answer async for answer in batch])
    assert (answers[0].failure, answers[0].content) == (
        ToolFailure.EXCEPTION,
        "The tool 'broken' failed: RuntimeError: the remote end hung up",
    )
    assert answers[1].content == "The tool 'empty' failed: RuntimeError"
    assert "tool source RemoteTools('remote') raised RuntimeError" in caplog.text


async def test_a_source_whose_dispatch_is_cancelled_by_itself_is_answered_cancelled():
    async def gives_up(arguments):
        raise asyncio.CancelledError

    async with dispatch_as_completed(
        RemoteTools({"gives_up": gives_up}), [call("gives_up")]
    ) as batch:
        [(index, result)] = [answer async for answer in batch]
    assert (index, result.failure) == (0, ToolFailure.CANCELLED)


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "2"])
def test_max_concurrency_is_checked(limit):
    with pytest.raises(ValueError, match="max_concurrency must be a positive int or None"):
        ToolCallBatch(RemoteTools({}), [], max_concurrency=limit)


async def test_an_empty_batch_ends_at_once():
    async with dispatch_as_completed(RemoteTools({}), []) as batch:
        assert [answer async for answer in batch] == []


async def test_dispatch_all_of_two_thousand_calls_keeps_their_order(registry):
    calls = [call("add", json.dumps({"a": i, "b": 1}), f"c{i}") for i in range(2000)]
    results = await registry.dispatch_all(calls, max_concurrency=50)
    assert [r.value for r in results] == [i + 1 for i in range(2000)]
    assert [r.tool_call_id for r in results] == [c.id for c in calls]


# ------------------------------------------------------------------ the README's examples

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def readme_block_defining(name):
    [block] = [
        b
        for b in re.findall(r"```python\n(.*?)```", README, re.S)
        if re.search(rf"^(async def|def|class) {name}\b", b, re.M)
    ]
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace[name]


async def test_the_readme_source_and_batch_examples_run(registry):
    remote_tools = readme_block_defining("RemoteTools")

    async def shout(arguments):
        return json.loads(arguments)["text"].upper()

    async def broken(arguments):
        raise ConnectionError("the other process is gone")

    remote = remote_tools({"shout": shout, "broken": broken})
    assert isinstance(remote, ToolSource)
    tools = combine_sources([registry, remote])
    assert [d["function"]["name"] for d in await tools.tool_definitions()] == [
        "add",
        "shout",
        "broken",
    ]
    shouted = await tools.dispatch(call("shout", '{"text": "hi"}', "call_2"))
    failed = await tools.dispatch(call("broken", "{}", "call_3"))
    assert (shouted.content, shouted.failure) == ("HI", None)
    assert (failed.content, failed.failure) == (
        "The tool failed: the other process is gone",
        ToolFailure.EXCEPTION,
    )
    answer_calls = readme_block_defining("answer_calls")
    transcript = []
    calls = [call("add", json.dumps({"a": i, "b": 1}), f"c{i}") for i in range(3)]
    await answer_calls(registry, calls, transcript)
    assert [(m.tool_call_id, m.content) for m in transcript] == [
        ("c0", "1"),
        ("c1", "2"),
        ("c2", "3"),
    ]
