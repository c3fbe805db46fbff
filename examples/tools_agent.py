"""Tools and the agent loop: async and sync tools, `ToolContext` deps, failures as data.

The agent sends the question with the tools' JSON Schemas, runs the tools the
model calls (async ones awaited, sync ones in a worker thread), sends their
results back, and repeats until the model answers in text.

    python examples/tools_agent.py

With PATHORS_API_KEY and PATHORS_PROJECT_ID set it asks the real service;
otherwise the bundled emulator (scripted, not a model) plays the model.
"""

import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Literal

from pathors_async import (
    Agent,
    AsyncPathors,
    ToolCallFinished,
    ToolCallStarted,
    ToolContext,
    ToolRegistry,
)
from pathors_async.testing import FakePathors

tools = ToolRegistry()


@dataclass
class Deps:
    """What the tools need from the app: passed per run, never sent to the model."""

    user_name: str
    orders: dict[str, str] = field(default_factory=dict)


@tools.tool
async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather in a city.

    Args:
        city: City name, e.g. "Taipei".
        unit: Temperature unit.
    """
    await asyncio.sleep(0)  # an async tool: e.g. an aiohttp call to a weather API
    return f"22°{unit.upper()} and sunny in {city}"


@tools.tool(timeout=5)
def order_status(order_id: str, ctx: ToolContext[Deps]) -> dict[str, str]:
    """Look up the status of one of the user's orders.

    Args:
        order_id: The order number.
    """
    time.sleep(0.01)  # a sync tool (blocking code): it runs in a thread, the loop stays free
    status = ctx.deps.orders.get(order_id)
    if status is None:
        # An exception becomes a tool message the model can read and act on.
        raise LookupError(f"{ctx.deps.user_name} has no order {order_id}")
    return {"order": order_id, "status": status}  # not a str: sent as JSON


async def ask(client: AsyncPathors) -> None:
    agent = Agent(client, tools=tools, instructions="Answer briefly; use the tools.")
    deps = Deps(user_name="Ada", orders={"1042": "shipped"})

    # 1. run(): the whole loop, then one result.
    result = await agent.run("What's the weather in Taipei?", deps=deps)
    print("answer:", result.output)
    print(f"({result.turns} turns, tools: {[r.name for r in result.tool_results]})")

    # 2. run_stream(): the same loop, with events as they happen.
    async with agent.run_stream("What is the status of order 1042?", deps=deps) as run:
        async for event in run:
            if isinstance(event, ToolCallStarted):
                print(f"tool call: {event.name}({event.arguments})")
            elif isinstance(event, ToolCallFinished):
                print(f"tool result: {event.result.content} (failure: {event.failure})")
        print("answer:", run.result.output)

    # 3. A failing tool: the model reads what went wrong; the run goes on.
    result = await agent.run("What is the status of order 7?", deps=deps)
    failed = result.tool_results[0]
    print("failure kind:", failed.failure, "| the model read:", failed.content)

    # The schema the model sees (ctx is injected, so it is not in it).
    print("order_status parameters:", tools.definitions[1]["function"]["parameters"])


class OneLine(logging.Formatter):
    """Log records without their traceback (the SDK logs a tool's exception with it)."""

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's name
        return ""


async def main() -> None:
    # A tool's exception is logged (ERROR, with traceback) on the "pathors_async" logger.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLine("log: %(levelname)s %(message)s"))
    logging.getLogger("pathors_async").addHandler(handler)
    try:
        if os.environ.get("PATHORS_API_KEY"):
            async with AsyncPathors() as client:
                await ask(client)
        else:
            async with FakePathors() as fake, fake.client() as client:
                await ask(client)
    finally:
        await tools.aclose()  # the registry owns the threads of the sync tools


if __name__ == "__main__":
    asyncio.run(main())
