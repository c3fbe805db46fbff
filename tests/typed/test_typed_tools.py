"""A typed use of the tool decorators, checked by ``mypy --strict`` (``make typecheck``).

If a decorator lost the function's signature, the ``type: ignore`` comments below
would be unused, and ``--strict`` (warn_unused_ignores) would fail the build.
"""

from __future__ import annotations

from typing import Any, Literal

from pathors_async import (
    FunctionCall,
    Tool,
    ToolCall,
    ToolContext,
    ToolDecorator,
    ToolRegistry,
    ToolResult,
    ToolSource,
    tool,
)

tools = ToolRegistry()


@tools.tool
async def get_weather(location: str, unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather.

    Args:
        location: City name.
        unit: Temperature unit.
    """
    return f"22 {unit} in {location}"


@tools.tool(name="add", timeout=2)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def ping() -> str:
    """Say pong."""
    return "pong"


strict_tool: ToolDecorator = tool(strict=True)


@strict_tool
async def whoami(ctx: ToolContext[dict[str, int]], name: str) -> str:
    """Say who is asking."""
    return f"{name} in {ctx.session_id}"


@tools.tool
def account(ctx: ToolContext[dict[str, str]]) -> str:
    """Say whose account this is: ``ctx.deps`` is typed as the deps type."""
    user: str = ctx.deps["user"]
    return user


def _never_called() -> None:
    """Calls that must not type-check: each ignore is needed, or mypy fails."""
    add("1", 2)  # type: ignore[arg-type]
    add(1)  # type: ignore[call-arg]
    ping(1)  # type: ignore[call-arg]
    _ = get_weather("Taipei", unit="kelvin")  # type: ignore[arg-type]


async def test_decorated_tools_keep_their_signatures() -> None:
    weather: str = await get_weather("Taipei", unit="f")
    total: int = add(1, 2)
    pong: str = ping()
    assert (weather, total, pong) == ("22 f in Taipei", 3, "pong")
    assert isinstance(add, Tool)
    registered: Tool[..., object] | None = tools.get("add")
    assert registered is add
    result: ToolResult = await tools.dispatch(
        ToolCall(id="c1", function=FunctionCall(name="add", arguments='{"a": 1, "b": 2}'))
    )
    assert result.content == "3"
    tools.close()


async def test_a_registry_is_a_tool_source_and_its_batches_are_typed() -> None:
    source: ToolSource = tools  # structurally: mypy checks every method's signature
    definitions: list[dict[str, Any]] = await source.tool_definitions()
    assert [d["function"]["name"] for d in definitions] == tools.names
    call = ToolCall(id="c1", function=FunctionCall(name="add", arguments='{"a": 1, "b": 2}'))
    async with tools.dispatch_as_completed([call, call]) as batch:
        async for index, result in batch:
            position: int = index
            answer: ToolResult = result
            assert (position, answer.content) in ((0, "3"), (1, "3"))
    rest: list[tuple[int, ToolResult]] = batch.cancel()
    assert rest == []
    await tools.aclose()
