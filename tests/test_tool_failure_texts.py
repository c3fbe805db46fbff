"""Dispatch never raises for what a tool did: unreadable exceptions, GeneratorExit, odd values."""

import sys

import attrs
import pytest

from pathors_async import FunctionCall, ToolCall, ToolFailure, ToolRegistry
from pathors_async._sources import dispatch_as_completed


class BadStr(Exception):  # noqa: N818 - named as in the review's reproduction
    """An exception whose message cannot be read."""

    def __str__(self):
        raise ValueError("no str")


UNREADABLE = "BadStr (its message could not be read)"


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


@pytest.fixture
def registry():
    tools = ToolRegistry()

    @tools.tool
    def sync_bad() -> str:
        raise BadStr

    @tools.tool
    async def async_bad() -> str:
        raise BadStr

    @tools.tool(timeout=30)
    async def timed_bad() -> str:
        raise BadStr

    @tools.tool
    async def gen_exit() -> str:
        raise GeneratorExit

    @tools.tool(timeout=30)
    async def timed_gen_exit() -> str:
        raise GeneratorExit

    @tools.tool
    def sync_gen_exit() -> str:
        raise GeneratorExit

    return tools


@pytest.mark.parametrize("name", ["sync_bad", "async_bad", "timed_bad"])
async def test_an_exception_whose_message_cannot_be_read_is_named_by_its_type(registry, name):
    result = await registry.dispatch(call(name))
    assert (result.failure, result.content) == (
        ToolFailure.EXCEPTION,
        f"The tool {name!r} failed: {UNREADABLE}",
    )
    [answer] = await registry.dispatch_all([call(name)])
    assert answer.content == result.content
    await registry.aclose()


@pytest.mark.parametrize("name", ["gen_exit", "timed_gen_exit", "sync_gen_exit"])
async def test_a_tool_raising_generator_exit_is_a_failure(registry, name):
    result = await registry.dispatch(call(name))
    assert (result.failure, result.content) == (
        ToolFailure.EXCEPTION,
        f"The tool {name!r} failed: GeneratorExit",
    )
    [answer] = await registry.dispatch_all([call(name)])
    assert answer.content == result.content
    await registry.aclose()


async def test_a_conversion_error_whose_message_cannot_be_read():
    def refuse(instance, attribute, value):
        raise BadStr

    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=refuse)

    tools = ToolRegistry()

    @tools.tool
    async def use(p: Checked) -> str:
        return "ok"

    result = await tools.dispatch(call("use", '{"p": {"n": 1}}'))
    assert result.failure is ToolFailure.INVALID_ARGUMENTS
    assert f"$.p: {UNREADABLE}" in result.content


async def test_a_return_value_too_deep_for_json_is_a_failure_not_a_recursion_error():
    tools = ToolRegistry()
    deep: list[object] = []
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]

    @tools.tool
    async def nested() -> object:
        return deep

    @tools.tool
    async def unreadable() -> object:
        return {"x": BadStrValue()}

    result = await tools.dispatch(call("nested"))
    assert result.failure is ToolFailure.EXCEPTION
    assert result.content.startswith("The tool 'nested' returned a value that cannot be sent")
    result = await tools.dispatch(call("unreadable"))
    assert result.failure is ToolFailure.EXCEPTION
    assert result.content.startswith("The tool 'unreadable' returned a value that cannot be sent")


class BadStrValue:
    """Not JSON, and raises BadStr when `json.dumps` asks what it is."""

    def __getattribute__(self, name):
        if name == "__class__":
            raise BadStr
        return object.__getattribute__(self, name)


async def test_a_source_raising_an_unreadable_exception_is_answered():
    class Remote:
        async def tool_definitions(self):
            return [{"type": "function", "function": {"name": "r", "parameters": {}}}]

        async def dispatch(self, tool_call, context=None):
            raise BadStr

        async def aclose(self):
            pass

    async with dispatch_as_completed(Remote(), [call("r")]) as batch:
        [(_, result)] = [answer async for answer in batch]
    assert (result.failure, result.content) == (
        ToolFailure.EXCEPTION,
        f"The tool 'r' failed: {UNREADABLE}",
    )
