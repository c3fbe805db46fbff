"""Model-controlled input never escapes `dispatch`: each hostile case is a `ToolResult`."""

import asyncio
import json
from typing import Any

import attrs
import pytest

from pathors_async import FunctionCall, Tool, ToolCall, ToolFailure, ToolRegistry


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


@pytest.fixture
def tools():
    registry = ToolRegistry()
    seen: list[Any] = []

    @registry.tool
    async def take(value: Any = None) -> str:
        seen.append(value)
        return "ok"

    @registry.tool
    async def count(n: int) -> str:
        seen.append(n)
        return repr(n)

    def positive(x: float) -> str:
        seen.append(x)
        return "ok"

    schema = {"type": "object", "properties": {"x": {"type": "number", "minimum": 0}}}
    registry.add(Tool.from_schema("positive", "Take a positive number.", schema, positive))
    registry.seen = seen
    yield registry
    registry.close()


async def test_arguments_nested_ten_thousand_deep_are_refused(tools):
    deep = '{"value": ' + "[" * 10_000 + "]" * 10_000 + "}"
    result = await tools.dispatch(call("take", deep))
    assert result.failure is ToolFailure.INVALID_JSON
    assert result.content == (
        "The arguments for tool 'take' are nested more than 64 levels deep. Send flatter arguments."
    )
    assert tools.seen == []


async def test_nesting_up_to_64_levels_is_accepted_and_65_refused(tools):
    ok = '{"value": ' + "[" * 63 + "]" * 63 + "}"  # the object is level 1
    assert (await tools.dispatch(call("take", ok))).failure is None
    too_deep = '{"value": ' + "[" * 64 + "]" * 64 + "}"
    assert (await tools.dispatch(call("take", too_deep))).failure is ToolFailure.INVALID_JSON


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
async def test_nan_and_infinity_are_refused(tools, text):
    result = await tools.dispatch(call("positive", f'{{"x": {text}}}'))
    assert result.failure is ToolFailure.INVALID_JSON
    assert result.content == (
        f"The arguments for tool 'positive' are not valid JSON: {text} is not a finite "
        "number. Send numbers as plain decimals."
    )
    assert tools.seen == []


async def test_duplicate_keys_are_refused_not_last_wins(tools):
    result = await tools.dispatch(call("take", '{"value": 1, "value": 2}'))
    assert result.failure is ToolFailure.INVALID_JSON
    assert result.content == (
        "The arguments for tool 'take' are not valid JSON: the key 'value' appears twice "
        "in one object. Send each key once."
    )
    nested = await tools.dispatch(call("take", '{"value": {"a": 1, "a": 1}}'))
    assert nested.failure is ToolFailure.INVALID_JSON
    assert tools.seen == []


async def test_an_integer_of_five_thousand_digits_is_refused(tools):
    result = await tools.dispatch(call("count", '{"n": ' + "7" * 5000 + "}"))
    assert result.failure is ToolFailure.INVALID_JSON
    assert result.content == (
        "The arguments for tool 'count' are not valid JSON: a number has more than "
        "4,300 digits. Send shorter numbers."
    )


async def test_an_integral_float_for_an_int_becomes_an_int(tools):
    result = await tools.dispatch(call("count", '{"n": 3.0}'))
    assert (result.failure, result.content) == (None, "3")
    assert type(tools.seen[0]) is int


async def test_a_fractional_float_for_an_int_is_refused(tools):
    result = await tools.dispatch(call("count", '{"n": 3.5}'))
    assert result.failure is ToolFailure.INVALID_ARGUMENTS
    assert result.content == (
        "Invalid arguments for tool 'count':\n- $.n: 3.5 is not of type 'integer'\n"
        "Fix them and call the tool again."
    )


async def test_integral_floats_become_ints_inside_containers():
    registry = ToolRegistry()
    seen = []

    @registry.tool
    async def many(ns: list[int], pair: tuple[int, str], by_name: dict[str, int]) -> str:
        seen.append((ns, pair, by_name))
        return "ok"

    arguments = {"ns": [1.0, 2], "pair": [3.0, "x"], "by_name": {"a": 4.0}}
    result = await registry.dispatch(call("many", json.dumps(arguments)))
    assert result.failure is None, result.content
    assert seen == [([1, 2], (3, "x"), {"a": 4})]
    assert [type(n) for n in seen[0][0]] == [int, int]
    assert type(seen[0][1][0]) is int
    assert type(seen[0][2]["a"]) is int


async def test_a_tool_raising_system_exit_is_a_failure_not_the_end_of_the_program():
    registry = ToolRegistry()

    @registry.tool
    async def quit_async() -> str:
        raise SystemExit(3)

    @registry.tool
    def quit_sync() -> str:
        raise SystemExit("bye")

    @registry.tool(timeout=30)
    async def quit_timed() -> str:
        raise SystemExit

    first = await registry.dispatch(call("quit_async"))
    assert (first.failure, first.content) == (
        ToolFailure.EXCEPTION,
        "The tool 'quit_async' failed: SystemExit: 3",
    )
    second = await registry.dispatch(call("quit_sync"))
    assert (second.failure, second.content) == (
        ToolFailure.EXCEPTION,
        "The tool 'quit_sync' failed: SystemExit: bye",
    )
    third = await registry.dispatch(call("quit_timed"))
    assert third.content == "The tool 'quit_timed' failed: SystemExit"
    registry.close()


async def test_a_tool_raising_cancelled_error_itself_is_a_failure():
    registry = ToolRegistry()

    @registry.tool
    async def gives_up() -> str:
        raise asyncio.CancelledError

    @registry.tool(timeout=30)
    async def gives_up_timed() -> str:
        raise asyncio.CancelledError

    @registry.tool
    def gives_up_sync() -> str:
        raise asyncio.CancelledError

    for name in ("gives_up", "gives_up_timed", "gives_up_sync"):
        result = await registry.dispatch(call(name))
        assert (result.failure, result.content) == (
            ToolFailure.EXCEPTION,
            f"The tool {name!r} failed: CancelledError",
        )
    registry.close()


async def test_lone_surrogates_in_arguments_are_replaced(tools):
    result = await tools.dispatch(call("take", '{"value": ["a\\ud800b", {"k\\udfff": "\\ud83d"}]}'))
    assert result.failure is None
    assert tools.seen == [["a\ufffdb", {"k\ufffd": "\ufffd"}]]
    paired = await tools.dispatch(call("take", '{"value": "\\ud83d\\ude00"}'))
    assert paired.failure is None
    assert tools.seen[-1] == "\U0001f600"


async def test_lone_surrogates_in_a_return_value_are_replaced():
    registry = ToolRegistry()

    @registry.tool
    async def give(kind: str) -> Any:
        return "x\ud800y" if kind == "text" else {"k": "\udc00"}

    text = await registry.dispatch(call("give", '{"kind": "text"}'))
    assert text.content == "x\ufffdy"
    data = await registry.dispatch(call("give", '{"kind": "json"}'))
    assert data.content == '{"k": "\ufffd"}'
    text.content.encode()
    data.content.encode()


async def test_a_lone_surrogate_in_an_unknown_tool_name_cannot_poison_the_next_request(tools):
    result = await tools.dispatch(call("x\ud800"))
    assert result.failure is ToolFailure.UNKNOWN_TOOL
    result.content.encode()
    assert result.name == "x\ufffd"


async def test_a_return_value_with_nan_is_not_sent_as_invalid_json():
    registry = ToolRegistry()

    @registry.tool
    async def give() -> float:
        return float("nan")

    result = await registry.dispatch(call("give"))
    assert result.failure is ToolFailure.EXCEPTION
    assert result.content == (
        "The tool 'give' returned a value that cannot be sent as JSON: "
        "Out of range float values are not JSON compliant"
    )


async def test_a_conversion_error_is_an_argument_problem_not_a_json_one():
    @attrs.frozen
    class Positive:
        n: int = attrs.field(validator=attrs.validators.gt(0))

    registry = ToolRegistry()

    @registry.tool
    async def use(p: Positive) -> str:
        return "ok"

    result = await registry.dispatch(call("use", '{"p": {"n": -1}}'))
    assert result.failure is ToolFailure.INVALID_ARGUMENTS
    assert result.content == (
        "Invalid arguments for tool 'use':\n- $.p: 'n' must be > 0: -1\n"
        "Fix them and call the tool again."
    )
