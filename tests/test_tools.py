"""Tools: registration, the schema sent, dispatch and every failure text the model reads."""

import asyncio
import enum
import json
import logging
import threading
from typing import Annotated, Literal

import attrs
import pytest

from pathors_async import (
    FunctionCall,
    Message,
    Tool,
    ToolArgumentsError,
    ToolCall,
    ToolContext,
    ToolExecutionError,
    ToolFailure,
    ToolNotFoundError,
    ToolRegistry,
    ToolResult,
    tool,
)


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


class Unit(enum.Enum):
    C = "c"
    F = "f"


@attrs.frozen
class Place:
    city: str
    country: str = "TW"


@attrs.frozen
class Report:
    city: str
    degrees: float
    unit: Unit


@pytest.fixture
def tools():
    registry = ToolRegistry(max_threads=4)

    @registry.tool
    async def get_weather(location: str, unit: Literal["c", "f"] = "c") -> str:
        """Get the current weather.

        Args:
            location: City name.
            unit: Temperature unit.
        """
        return f"22 {unit} in {location}"

    @registry.tool(name="add", description="Add two integers.")
    def add_numbers(a: int, b: int) -> dict:
        return {"sum": a + b}

    @registry.tool
    def fail(reason: str) -> None:
        raise ValueError(reason)

    yield registry
    registry.close()


# ------------------------------------------------------------------ registration


def test_definitions_are_sent_as_functions(tools):
    [weather, add, _fail] = tools.definitions
    assert weather == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "City name."},
                    "unit": {
                        "type": "string",
                        "enum": ["c", "f"],
                        "description": "Temperature unit.",
                        "default": "c",
                    },
                },
                "required": ["location"],
                "additionalProperties": False,
            },
        },
    }
    assert add["function"]["name"] == "add"
    assert add["function"]["description"] == "Add two integers."
    assert tools.names == ["get_weather", "add", "fail"]
    assert "add" in tools
    assert len(tools) == 3
    assert [t.name for t in tools] == tools.names


async def test_decorated_functions_still_work(tools):
    assert await tools.get("get_weather")("Taipei") == "22 c in Taipei"
    assert tools.get("add")(1, b=2) == {"sum": 3}
    assert tools.get("add").function.__name__ == "add_numbers"
    assert repr(tools.get("add")) == "Tool(name='add', function=add_numbers)"


def test_module_level_tool_and_a_registry_of_them():
    @tool
    def ping() -> str:
        """Say pong."""
        return "pong"

    @tool(name="echo", strict=True, timeout=3)
    def echo(text: str, times: int = 1) -> str:
        return text * times

    def plain(x: int) -> int:
        return x

    registry = ToolRegistry([ping, echo, plain])
    assert isinstance(ping, Tool)
    assert registry.names == ["ping", "echo", "plain"]
    definition = registry.get("echo").definition["function"]
    assert definition["strict"] is True
    assert definition["parameters"]["required"] == ["text", "times"]
    assert registry.get("echo").timeout == 3
    assert repr(registry) == "ToolRegistry(['ping', 'echo', 'plain'])"


def test_duplicate_names_are_refused(tools):
    def get_weather() -> str:
        return ""

    with pytest.raises(ValueError, match="a tool named 'get_weather' is already registered"):
        tools.add(get_weather)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dot.ted", "ünï"])
def test_names_the_api_would_refuse(name):
    with pytest.raises(ValueError, match="is not allowed: use 1 to 64 letters, digits"):
        tool(name=name)(lambda: None)


def test_unsupported_signatures_fail_at_registration():
    def varargs(*items: str) -> None: ...

    with pytest.raises(TypeError, match=r"cannot make a tool of varargs: varargs\(items\)"):
        ToolRegistry().tool(varargs)


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        (
            {"type": "object", "properties": {"a": {"type": "strng"}}},
            "is invalid at properties/a/type",
        ),
        ({"type": "array"}, "must be a JSON Schema object"),
        ("nope", "must be a JSON Schema object"),
    ],
)
def test_hand_written_schemas_are_checked(parameters, text):
    with pytest.raises(ValueError, match=text):
        Tool.from_schema("t", "d", parameters, lambda: None)


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"max_threads": 0}, "max_threads must be a positive int"),
        ({"max_argument_bytes": True}, "max_argument_bytes must be a positive int"),
        ({"max_concurrency": 0}, "max_concurrency must be a positive int"),
        ({"timeout": -1}, "the timeout of the registry must be a positive number"),
    ],
)
def test_registry_options_are_checked(options, text):
    with pytest.raises(ValueError, match=text):
        ToolRegistry(**options)


def test_a_tool_timeout_is_checked():
    with pytest.raises(ValueError, match="the timeout of tool 'f' must be a positive number"):
        Tool.from_function(lambda: None, name="f", timeout=0)


# ------------------------------------------------------------------ what the model reads


FAILURES = [
    (
        call("get_wether"),
        ToolFailure.UNKNOWN_TOOL,
        (
            "There is no tool named 'get_wether'. Did you mean 'get_weather'? "
            "Available tools: get_weather, add, fail."
        ),
    ),
    (
        call("zzz"),
        ToolFailure.UNKNOWN_TOOL,
        "There is no tool named 'zzz'. Available tools: get_weather, add, fail.",
    ),
    (
        call("get_weather", '{"location" "Taipei"}'),
        ToolFailure.INVALID_JSON,
        (
            "The arguments for tool 'get_weather' are not valid JSON: Expecting ':' delimiter "
            'at line 1, column 13 (near \'{"location" "Taipei"}\'). Send a JSON object that '
            "matches the tool's parameters."
        ),
    ),
    (
        call("get_weather", '["Taipei"]'),
        ToolFailure.INVALID_JSON,
        "The arguments for tool 'get_weather' must be a JSON object, not an array.",
    ),
    (
        call("get_weather", '{"location": 5, "unit": "k", "extra": true}'),
        ToolFailure.INVALID_ARGUMENTS,
        (
            "Invalid arguments for tool 'get_weather':\n"
            "- $: Additional properties are not allowed ('extra' was unexpected)\n"
            "- $.location: 5 is not of type 'string'\n"
            "- $.unit: 'k' is not one of ['c', 'f']\n"
            "Fix them and call the tool again."
        ),
    ),
    (
        call("add", '{"a": 1}'),
        ToolFailure.INVALID_ARGUMENTS,
        (
            "Invalid arguments for tool 'add':\n- $: 'b' is a required property\n"
            "Fix them and call the tool again."
        ),
    ),
    (
        call("fail", '{"reason": "the city is on fire"}'),
        ToolFailure.EXCEPTION,
        "The tool 'fail' failed: ValueError: the city is on fire",
    ),
]


@pytest.mark.parametrize(
    ("tool_call", "failure", "text"), FAILURES, ids=[f[1].value for f in FAILURES]
)
async def test_failures_become_messages_the_model_can_act_on(
    tools, tool_call, failure, text, caplog
):
    caplog.set_level(logging.ERROR, logger="pathors_async")
    result = await tools.dispatch(tool_call)
    assert isinstance(result, ToolResult)
    assert isinstance(result, Message)
    assert (result.role, result.tool_call_id, result.name) == (
        "tool",
        "call_1",
        tool_call.function.name,
    )
    assert result.failure is failure
    assert result.content == text
    assert result.value is None
    assert "Traceback" not in result.content


async def test_an_exception_is_logged_with_its_traceback(tools, caplog):
    caplog.set_level(logging.ERROR, logger="pathors_async")
    await tools.dispatch(call("fail", '{"reason": "boom"}'))
    [record] = caplog.records
    assert record.getMessage() == "tool 'fail' raised ValueError"
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


async def test_arguments_over_the_size_limit():
    registry = ToolRegistry(max_argument_bytes=64)

    @registry.tool
    def echo(text: str) -> str:
        return text

    result = await registry.dispatch(
        call("echo", json.dumps({"text": "é" * 40}, ensure_ascii=False))
    )
    assert result.failure is ToolFailure.TOO_LARGE
    assert result.content == (
        "The arguments for tool 'echo' are 92 bytes, over the limit of 64 bytes. "
        "Send shorter arguments."
    )
    ok = await registry.dispatch(call("echo", json.dumps({"text": "é" * 10}, ensure_ascii=False)))
    assert ok.failure is None


async def test_empty_arguments_mean_no_arguments():
    registry = ToolRegistry()

    @registry.tool
    async def ping() -> str:
        return "pong"

    assert (await registry.dispatch(call("ping", ""))).content == "pong"
    assert (await registry.dispatch(call("ping", " "))).content == "pong"


# ------------------------------------------------------------------ running tools


async def test_async_and_sync_tools_succeed(tools):
    weather = await tools.dispatch(call("get_weather", '{"location": "Taipei", "unit": "f"}'))
    assert (weather.failure, weather.content, weather.value) == (
        None,
        "22 f in Taipei",
        "22 f in Taipei",
    )
    added = await tools.dispatch(call("add", '{"a": 2, "b": 3}', "call_9"))
    assert (added.content, added.value, added.tool_call_id) == ('{"sum": 5}', {"sum": 5}, "call_9")
    assert added.duration > 0


async def test_sync_tools_run_on_the_registrys_threads(tools):
    seen = []

    @tools.tool
    def where() -> str:
        seen.append(threading.current_thread().name)
        return "ok"

    await tools.dispatch(call("where"))
    assert seen[0].startswith("pathors-tool")


async def test_arguments_are_converted_to_the_annotated_types():
    registry = ToolRegistry()
    received = {}

    @registry.tool
    def plan(
        *,
        place: Place,
        unit: Unit,
        stops: tuple[str, ...],
        tags: set[str],
        budget: float,
        backup: Place | None = None,
    ) -> str:
        received.update(
            place=place, unit=unit, stops=stops, tags=tags, budget=budget, backup=backup
        )
        return "ok"

    arguments = {
        "place": {"city": "Taipei"},
        "unit": "f",
        "stops": ["a", "b"],
        "tags": ["x", "y", "x"][:2],
        "budget": 3,
        "backup": {"city": "Tainan", "country": "TW"},
    }
    result = await registry.dispatch(call("plan", json.dumps(arguments)))
    assert result.failure is None, result.content
    assert received == {
        "place": Place(city="Taipei"),
        "unit": Unit.F,
        "stops": ("a", "b"),
        "tags": {"x", "y"},
        "budget": 3.0,
        "backup": Place(city="Tainan"),
    }
    assert isinstance(received["budget"], float)
    registry.close()


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", "plain text"),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        (None, "null"),
        (3.5, "3.5"),
        (
            Report(city="Taipei", degrees=22.5, unit=Unit.C),
            '{"city": "Taipei", "degrees": 22.5, "unit": "c"}',
        ),
        (Unit.F, '"f"'),
        ({"ids": {7}}, '{"ids": [7]}'),
        ("中文", "中文"),
    ],
)
async def test_return_values_become_content(value, content):
    registry = ToolRegistry()
    registry.add(tool(name="give")(lambda: value))
    result = await registry.dispatch(call("give"))
    assert (result.failure, result.content) == (None, content)
    registry.close()


async def test_a_return_value_that_is_not_json():
    registry = ToolRegistry()

    @registry.tool
    async def give() -> object:
        return object()

    result = await registry.dispatch(call("give"))
    assert result.failure is ToolFailure.EXCEPTION
    assert result.content == (
        "The tool 'give' returned a value that cannot be sent as JSON: object is not JSON"
    )


async def test_the_context_is_injected_anywhere_and_left_out_of_the_schema():
    registry = ToolRegistry()
    seen = []

    @registry.tool
    async def whoami(first: ToolContext[dict], name: str, last: ToolContext) -> str:
        seen.append((first, last))
        return name

    assert set(registry.definitions[0]["function"]["parameters"]["properties"]) == {"name"}
    tool_call = call("whoami", '{"name": "Ada"}')
    await registry.dispatch(tool_call, ToolContext(session_id="s-1", deps={"db": 1}))
    first, last = seen[0]
    assert first == last == ToolContext(session_id="s-1", tool_call=tool_call, deps={"db": 1})
    await registry.dispatch(tool_call)
    assert seen[1][0] == ToolContext(tool_call=tool_call)


async def test_strict_tools_take_null_as_the_default():
    registry = ToolRegistry()

    @registry.tool(strict=True)
    async def book(people: int, when: str = "tonight", note: str | None = "none") -> str:
        return f"{people} {when} {note}"

    result = await registry.dispatch(call("book", '{"people": 2, "when": null, "note": null}'))
    assert result.content == "2 tonight None"


async def test_a_hand_written_schema_gets_raw_arguments_and_the_context():
    seen = {}

    def handler(city: str, ctx: ToolContext) -> str:
        seen.update(city=city, session=ctx.session_id)
        return city.upper()

    made = Tool.from_schema(
        "shout",
        "Shout a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        handler,
    )
    registry = ToolRegistry([made])
    result = await registry.dispatch(
        call("shout", '{"city": "taipei"}'), ToolContext(session_id="s")
    )
    assert (result.content, seen) == ("TAIPEI", {"city": "taipei", "session": "s"})
    bad = await registry.dispatch(call("shout", "{}"))
    assert bad.failure is ToolFailure.INVALID_ARGUMENTS
    registry.close()


# ------------------------------------------------------------------ timeouts


async def test_an_async_tool_past_its_timeout_is_cancelled():
    registry = ToolRegistry()
    cancelled = asyncio.Event()

    @registry.tool(timeout=0.05)
    async def hang() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    result = await registry.dispatch(call("hang"))
    assert result.failure is ToolFailure.TIMEOUT
    assert result.content == "The tool 'hang' did not finish within 0.05 s and was stopped."
    assert cancelled.is_set()


async def test_a_sync_tool_past_its_timeout_is_reported_as_maybe_running():
    registry = ToolRegistry(timeout=0.05)  # the registry's default applies
    release = threading.Event()

    @registry.tool
    def block() -> str:
        release.wait()
        return "late"

    try:
        result = await registry.dispatch(call("block"))
    finally:
        release.set()
    assert result.failure is ToolFailure.TIMEOUT
    assert result.content == (
        "The tool 'block' did not finish within 0.05 s. It may still be running, but its "
        "result will not be sent."
    )
    registry.close()


async def test_the_tools_own_timeout_wins_over_the_registrys():
    registry = ToolRegistry(timeout=0.01)

    @registry.tool(timeout=30)
    async def quick() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert (await registry.dispatch(call("quick"))).content == "done"


async def test_a_tool_that_raises_timeout_error_itself_is_an_exception():
    registry = ToolRegistry(timeout=30)

    @registry.tool
    async def upstream() -> str:
        raise TimeoutError("the weather service timed out")

    result = await registry.dispatch(call("upstream"))
    assert result.failure is ToolFailure.EXCEPTION
    assert (
        result.content == "The tool 'upstream' failed: TimeoutError: the weather service timed out"
    )


async def test_cancelling_dispatch_cancels_the_tool():
    registry = ToolRegistry(timeout=30)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @registry.tool
    async def hang() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    task = asyncio.create_task(registry.dispatch(call("hang")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


# ------------------------------------------------------------------ batches


async def test_dispatch_all_keeps_the_calls_order_whatever_finishes_first():
    registry = ToolRegistry()
    gates = {str(i): asyncio.Event() for i in range(5)}
    done = {key: asyncio.Event() for key in gates}
    finished = []

    @registry.tool
    async def wait(key: str) -> str:
        await gates[key].wait()
        finished.append(key)
        done[key].set()
        return key

    calls = [call("wait", json.dumps({"key": key}), f"call_{key}") for key in gates]
    batch = asyncio.create_task(registry.dispatch_all(calls))
    for key in reversed(list(gates)):  # the last call finishes first, and so on
        gates[key].set()
        await done[key].wait()
    results = await batch
    assert finished == ["4", "3", "2", "1", "0"]
    assert [r.content for r in results] == ["0", "1", "2", "3", "4"]
    assert [r.tool_call_id for r in results] == [c.id for c in calls]


async def test_dispatch_all_honours_a_concurrency_limit():
    registry = ToolRegistry(max_concurrency=2)
    running = peak = 0

    @registry.tool
    async def work() -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return "ok"

    results = await registry.dispatch_all([call("work") for _ in range(10)])
    assert peak == 2
    assert len(results) == 10
    results = await registry.dispatch_all([call("work") for _ in range(10)], max_concurrency=5)
    assert peak == 5


async def test_the_thread_pool_stays_bounded_under_a_thousand_sync_calls():
    registry = ToolRegistry(max_threads=4)
    threads = set()
    lock = threading.Lock()

    @registry.tool
    def record(n: int) -> int:
        with lock:
            threads.add(threading.get_ident())
        return n

    results = await registry.dispatch_all([call("record", f'{{"n": {i}}}') for i in range(1000)])
    assert [r.value for r in results] == list(range(1000))
    assert 1 <= len(threads) <= 4
    registry.close()


async def test_close_stops_the_threads_and_a_later_call_starts_them_again(tools):
    await tools.dispatch(call("add", '{"a": 1, "b": 1}'))
    assert tools._pool is not None
    async with tools:
        pass
    assert tools._pool is None
    await tools.aclose()
    assert (await tools.dispatch(call("add", '{"a": 1, "b": 1}'))).content == '{"sum": 2}'


# ------------------------------------------------------------------ the strict path


async def test_call_returns_the_value(tools):
    assert await tools.call("add", {"a": 1, "b": 2}) == {"sum": 3}
    assert await tools.call("add", '{"a": 1, "b": 2}') == {"sum": 3}
    assert await tools.call("get_weather", {"location": "Oslo"}) == "22 c in Oslo"


async def test_call_raises_with_the_same_details(tools):
    with pytest.raises(ToolNotFoundError, match="There is no tool named 'nope'") as missing:
        await tools.call("nope")
    assert (missing.value.tool_name, missing.value.failure) == ("nope", ToolFailure.UNKNOWN_TOOL)
    with pytest.raises(ToolArgumentsError) as invalid:
        await tools.call("add", {"a": "x"})
    assert invalid.value.errors == (
        "$: 'b' is a required property",
        "$.a: 'x' is not of type 'integer'",
    )
    assert invalid.value.failure is ToolFailure.INVALID_ARGUMENTS
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        await tools.call("add", "{")
    with pytest.raises(ToolExecutionError, match="The tool 'fail' failed: ValueError: x") as failed:
        await tools.call("fail", {"reason": "x"})
    assert isinstance(failed.value.__cause__, ValueError)
    assert failed.value.failure is ToolFailure.EXCEPTION


# ------------------------------------------------------------------ end to end with the emulator


async def test_a_tool_call_from_the_emulator_runs_and_its_answer_goes_back(client, fake, tools):
    question = {"role": "user", "content": "What's the weather in Taipei?"}
    first = await client.chat.completions.create(messages=[question], tools=tools)
    assistant = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    [result] = await tools.dispatch_all(
        assistant.tool_calls or (), ToolContext(session_id=first.session_id)
    )
    assert result.content == "22 c in Taipei"
    second = await client.chat.completions.create(
        messages=[question, assistant, result], session_id=first.session_id, tools=tools
    )
    assert second.choices[0].message.content.endswith("Tool results: get_weather: 22 c in Taipei")
    sent = fake.requests[1].body["messages"][2]
    assert sent == {
        "role": "tool",
        "content": "22 c in Taipei",
        "name": "get_weather",
        "tool_call_id": assistant.tool_calls[0].id,
    }
    assert fake.requests[0].body["tools"] == tools.definitions


async def test_closing_the_client_never_closes_a_registry_it_was_given(fake):
    registry = ToolRegistry()
    started, release = threading.Event(), threading.Event()

    @registry.tool
    def slow(x: int) -> int:
        started.set()
        release.wait(10)
        return x

    client = fake.client()
    await client.chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], tools=registry
    )
    running = asyncio.ensure_future(registry.dispatch(call("slow", '{"x": 7}')))
    await asyncio.to_thread(started.wait, 10)
    await client.aclose()  # shared: other clients and agents may still be using it
    release.set()
    result = await running
    assert (result.failure, result.content) == (None, "7")
    await registry.aclose()


# ------------------------------------------------------------------ Annotated with schema keywords


@attrs.frozen
class Budget:
    amount: Annotated[float, {"minimum": 0}]
    unit: Annotated[Unit, {"title": "Unit"}] = Unit.C
    where: Annotated[Place, {"title": "Place"}] = Place(city="Taipei")
    span: Annotated[tuple[int, int], {"title": "Days"}] = (1, 2)
    rates: Annotated[list[float], {"minItems": 1}] = attrs.field(factory=lambda: [1.0])


async def test_annotated_keywords_work_for_every_type_that_needs_conversion():
    registry = ToolRegistry()
    seen = {}

    @registry.tool
    async def plan(
        *,
        amount: Annotated[float, {"minimum": 0}],
        unit: Annotated[Unit, {"title": "Unit"}],
        where: Annotated[Place, {"title": "Place"}],
        span: Annotated[tuple[int, int], {"title": "Days"}],
        rates: Annotated[list[float], {"minItems": 1}],
        budget: Annotated[Budget, {"title": "Budget"}],
    ) -> str:
        seen.update(amount=amount, unit=unit, where=where, span=span, rates=rates, budget=budget)
        return "ok"

    properties = registry.definitions[0]["function"]["parameters"]["properties"]
    assert properties["amount"] == {"type": "number", "minimum": 0}
    assert properties["budget"]["properties"]["amount"] == {"type": "number", "minimum": 0}
    arguments = {
        "amount": 2,
        "unit": "f",
        "where": {"city": "Oslo"},
        "span": [1, 3],
        "rates": [1, 2.5],
        "budget": {
            "amount": 3,
            "unit": "f",
            "where": {"city": "Oslo"},
            "span": [4, 5],
            "rates": [2],
        },
    }
    result = await registry.dispatch(call("plan", json.dumps(arguments)))
    assert (result.failure, result.content) == (None, "ok")
    assert seen == {
        "amount": 2.0,
        "unit": Unit.F,
        "where": Place(city="Oslo"),
        "span": (1, 3),
        "rates": [1.0, 2.5],
        "budget": Budget(
            amount=3.0, unit=Unit.F, where=Place(city="Oslo"), span=(4, 5), rates=[2.0]
        ),
    }
    assert type(seen["amount"]) is float
    assert [type(rate) for rate in seen["rates"]] == [float, float]
    refused = await registry.dispatch(call("plan", json.dumps({**arguments, "amount": -1})))
    assert refused.failure is ToolFailure.INVALID_ARGUMENTS
    assert "- $.amount: -1 is less than the minimum of 0" in refused.content
