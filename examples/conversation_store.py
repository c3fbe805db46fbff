"""One conversation per end user, kept between HTTP requests (here: in a dict as a store).

A web handler loads the user's conversation, sends their message, saves it back.
Swap the dict for Redis or a database column: `to_dict()` is plain JSON.

    python examples/conversation_store.py
"""

import asyncio
import json

from pathors_async import Agent, Conversation, ToolRegistry
from pathors_async.testing import FakePathors

tools = ToolRegistry()
store: dict[str, str] = {}  # user id -> saved conversation (JSON text)


@tools.tool
async def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"sunny in {city}"


async def handle_request(agent: Agent, user_id: str, text: str) -> str:
    """What an HTTP handler does for one message from one user."""
    saved = store.get(user_id)
    conversation = (
        Conversation.from_dict(json.loads(saved), agent=agent)
        if saved
        else agent.conversation(history="server")
    )
    result = await conversation.send(text)
    store[user_id] = json.dumps(conversation.to_dict())
    return result.output


async def main() -> None:
    async with FakePathors() as fake, fake.client() as client:
        agent = Agent(client, tools=tools)
        print("ada:", await handle_request(agent, "ada", "What's the weather in Oslo?"))
        print("bob:", await handle_request(agent, "bob", "hello"))
        print("ada:", await handle_request(agent, "ada", "thanks"))
        ada = json.loads(store["ada"])
        print(f"ada's conversation: {len(ada['messages'])} messages, session {ada['session_id']}")


if __name__ == "__main__":
    asyncio.run(main())
