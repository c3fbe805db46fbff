"""Agent factories for the batch tests' subprocesses (``--agent tests.batch_agents:...``)."""

from __future__ import annotations

import asyncio
import os

from pathors_async import Agent, AsyncPathors, ToolRegistry


def make_holding_agent(client: AsyncPathors) -> Agent:
    """An agent whose ``hold`` tool never returns while BATCH_TEST_HOLD=1 (else it answers)."""
    tools = ToolRegistry()

    @tools.tool
    async def hold(ticket: str) -> str:
        """Hold the line for a ticket.

        Args:
            ticket: The ticket number.
        """
        if os.environ.get("BATCH_TEST_HOLD") == "1":
            print(f"holding {ticket}", flush=True)  # noqa: T201 - the test waits for this line
            await asyncio.Event().wait()
        return f"held {ticket}"

    return Agent(client, tools=tools, instructions="Be brief.")


async def make_agent_async(client: AsyncPathors) -> Agent:
    """An async factory: awaited by the CLI."""
    return Agent(client, max_turns=3)


def make_nothing(client: AsyncPathors) -> object:
    """Not an agent: the CLI refuses it."""
    return client


NOT_CALLABLE = 42
