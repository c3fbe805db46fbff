"""``pathors-async demo``: a short exchange against the emulator started in this process.

No credentials, no network: a streamed agent with a tool, a conversation saved
and restored, and the session API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, Literal

from pathors_async import (
    Agent,
    Conversation,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolRegistry,
)
from pathors_async.testing import FakePathors

__all__ = ["add_parser", "demo", "run"]


_ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green", "tool": "bold yellow"}


def _label(role: str) -> str:
    """The start of a line of the exchange, in colour when the ``cli`` extra (rich) is installed."""
    try:
        from rich.console import Console  # noqa: PLC0415 - optional dependency
    except ImportError:
        return f"{role:>9} | "
    console = Console(highlight=False, force_terminal=None)
    with console.capture() as captured:
        console.print(f"[{_ROLE_STYLES.get(role, 'bold')}]{role:>9}[/] | ", end="")
    return captured.get()


def _show(role: str, text: str) -> None:
    print(_label(role) + text)


def _demo_tools() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool
    async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        """Get the current weather in a city.

        Args:
            city: The city's name.
            unit: Celsius or Fahrenheit.
        """
        return f"22°{unit.upper()} and sunny in {city}"

    return tools


async def _turn(conversation: Conversation, text: str) -> None:
    """Send one user message, printing the agent's events as they stream in."""
    _show("user", text)
    answering = False
    async with conversation.stream(text) as run:
        async for event in run:
            if isinstance(event, ToolCallStarted):
                _show("tool", f"{event.name}({event.arguments}) ...")
            elif isinstance(event, ToolCallFinished):
                _show("tool", f"-> {event.result.content} ({event.duration * 1000:.1f} ms)")
            elif isinstance(event, TextDelta):
                if not answering:
                    print(_label("assistant"), end="", flush=True)
                    answering = True
                print(event.text, end="", flush=True)
    print(f"\n\n(turns: {run.result.turns}, session {run.result.session_id})\n")


async def demo() -> None:
    """A streamed agent with a tool, a conversation saved and restored, and the session API."""
    async with FakePathors() as fake, fake.client() as client:
        print(f"FakePathors emulator at {fake.url} (scripted, not a model)\n")
        agent = Agent(client, tools=_demo_tools(), instructions="Answer briefly.")
        conversation = agent.conversation()
        await _turn(conversation, "What's the weather in Taipei?")

        saved = json.dumps(conversation.to_dict())
        print(f"(conversation saved as {len(saved)} bytes of JSON, then restored)\n")
        restored = Conversation.from_dict(json.loads(saved), agent=agent)
        await _turn(restored, "Thanks! Please remember my name is Ada.")

        state = await client.sessions.get(restored.session_id or "")
        print(f"session {state.session_id} holds {len(state.messages)} messages on the server")
        ended = await client.sessions.end(state.session_id)
        print(f"ended: {ended.success}")


def add_parser(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register ``demo``."""
    commands.add_parser("demo", help="run the offline demo against the bundled emulator")


def run(_args: argparse.Namespace) -> int:
    """Run the demo; the exit status."""
    asyncio.run(demo())
    return 0
