"""Testing your own app with the emulator: pytest, the `pathors_fake`/`pathors_client` fixtures.

Installing pathors-async registers a pytest plugin with two fixtures:

- ``pathors_fake``: a started `FakePathors` on 127.0.0.1 (retries without waits);
- ``pathors_client``: an `AsyncPathors` pointed at it, closed after the test.

They are async fixtures, so pytest needs pytest-asyncio (``pip install
pytest-asyncio``) in auto mode; put this in your pyproject.toml (or ``-o
asyncio_mode=auto`` on the command line)::

    [tool.pytest.ini_options]
    asyncio_mode = "auto"
    asyncio_default_fixture_loop_scope = "function"

Without the first line, pytest says ``async def functions are not natively
supported``; without the second, pytest-asyncio warns that the scope is unset.
Then run your tests as usual:

    pytest examples/testing_with_fake.py
    python examples/testing_with_fake.py     # the same: runs pytest on this file
"""

# ruff: noqa: S101 - pytest tests assert

import subprocess
import sys

import pytest

from pathors_async import Agent, AsyncPathors, InternalServerError, ToolRegistry
from pathors_async.testing import FakePathors

# ---------------------------------------------------------------- the app under test

tools = ToolRegistry()


@tools.tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status.

    Args:
        order_id: The order number.
    """
    return {"1042": "shipped"}.get(order_id, "unknown order")


async def support_answer(client: AsyncPathors, question: str) -> str:
    """Your app's code: answer a customer's question, using the order tool."""
    agent = Agent(client, tools=tools, instructions="You are a support agent.")
    result = await agent.run(question)
    return result.output


# ---------------------------------------------------------------- its tests


async def test_scripted_answer(pathors_fake: FakePathors, pathors_client: AsyncPathors) -> None:
    pathors_fake.reply("Hello! How can I help?")  # script what the "model" says

    assert await support_answer(pathors_client, "hi") == "Hello! How can I help?"
    sent = pathors_fake.requests[-1].body  # and check what your app sent
    assert sent["messages"][0] == {"role": "system", "content": "You are a support agent."}
    assert sent["tools"][0]["function"]["name"] == "lookup_order"


async def test_tool_is_called(pathors_fake: FakePathors, pathors_client: AsyncPathors) -> None:
    pathors_fake.reply_tool_calls([{"name": "lookup_order", "arguments": {"order_id": "1042"}}])
    pathors_fake.reply("Your order has shipped.")

    assert await support_answer(pathors_client, "Where is order 1042?") == "Your order has shipped."
    tool_message = pathors_fake.requests[-1].body["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == "shipped"


async def test_service_errors(pathors_fake: FakePathors, pathors_client: AsyncPathors) -> None:
    pathors_fake.fail_next(503)  # retried (without waiting, in tests), then answered
    assert "You said: hi" in await support_answer(pathors_client, "hi")

    pathors_fake.fail_next(500)  # not retried: your app sees the typed error
    with pytest.raises(InternalServerError):
        await support_answer(pathors_client, "hi")


if __name__ == "__main__":
    # A fresh interpreter: pytest wants to import (and assert-rewrite) the test module itself.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__]
    options = ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]
    sys.exit(subprocess.run([*command, *options], check=False).returncode)  # noqa: S603 - our argv
