"""Tools for the chat REPL tests (``pathors-async chat --tools tests.chat_tools:registry``)."""

import asyncio

from pathors_async import ToolRegistry

registry = ToolRegistry()


@registry.tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city's name.
    """
    return f"18 degrees and cloudy in {city}"


@registry.tool
async def explode(reason: str) -> str:
    """Explode on purpose, to show a failed tool call.

    Args:
        reason: Why.
    """
    raise RuntimeError(f"boom: {reason}")


def make_registry() -> ToolRegistry:
    """The same registry, from a factory."""
    return registry


not_a_registry = 42


@registry.tool
async def wait_forever(topic: str) -> str:
    """Wait until cancelled (the REPL's Ctrl-C test).

    Args:
        topic: Anything.
    """
    await asyncio.Event().wait()
    return topic
