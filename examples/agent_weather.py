"""Answer a question with a tool: the README's agent example, runnable offline.

With PATHORS_API_KEY and PATHORS_PROJECT_ID set it asks the real service;
otherwise it starts the bundled emulator (scripted, not a model) and asks it.

    python examples/agent_weather.py
"""

import asyncio
import os

from pathors_async import Agent, AsyncPathors, ToolRegistry
from pathors_async.testing import FakePathors

tools = ToolRegistry()


@tools.tool
async def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"22°C and sunny in {city}"


async def ask(client: AsyncPathors) -> None:
    result = await Agent(client, tools=tools).run("What's the weather in Taipei?")
    print(result.output)
    print(f"({result.turns} turns, tools: {[r.name for r in result.tool_results]})")


async def main() -> None:
    if os.environ.get("PATHORS_API_KEY"):
        async with AsyncPathors() as client:
            await ask(client)
    else:
        async with FakePathors() as fake, fake.client() as client:
            await ask(client)


if __name__ == "__main__":
    asyncio.run(main())
