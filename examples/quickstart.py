"""Quickstart: one chat turn, a second turn in the same session, and the session API.

Runs against the real service when PATHORS_API_KEY and PATHORS_PROJECT_ID are
set, and against the bundled emulator otherwise (no network, no credentials):

    python examples/quickstart.py
"""

import asyncio
import os

from pathors_async import AsyncPathors, Message
from pathors_async.testing import FakePathors


async def chat(client: AsyncPathors) -> None:
    messages = [Message(role="user", content="Hi! What can you do?")]
    first = await client.chat.completions.create(messages=messages)
    print("assistant:", first.choices[0].message.content)
    print("session:", first.session_id)

    # Keep the transcript and pass the session id to continue the conversation.
    messages += [first.choices[0].message, Message(role="user", content="Thanks!")]
    second = await client.chat.completions.create(messages=messages, session_id=first.session_id)
    print("assistant:", second.choices[0].message.content)

    state = await client.sessions.get(second.session_id or "")
    print(f"the service keeps {len(state.messages)} messages for this session")


async def main() -> None:
    if os.environ.get("PATHORS_API_KEY"):
        async with AsyncPathors() as client:
            await chat(client)
    else:
        async with FakePathors() as fake, fake.client() as client:
            await chat(client)


if __name__ == "__main__":
    asyncio.run(main())
