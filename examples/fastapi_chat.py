"""A chat web app: FastAPI, one conversation per user in SQLite, answers streamed as SSE.

Every worker process opens the same SQLite file, so a user's messages are
answered one at a time, in order, whichever worker gets them:

    pip install . fastapi uvicorn          # from a clone of this repository
    PATHORS_API_KEY=... PATHORS_PROJECT_ID=... uvicorn examples.fastapi_chat:app --workers 4

    curl -N -X POST localhost:8000/chat/ada -H 'content-type: application/json' \\
         -d '{"message": "hi"}'

``python examples/fastapi_chat.py`` runs it offline: the emulator plays the
service, uvicorn serves the app on a free port, and two users chat.

If the browser goes away mid-answer, Starlette cancels the handler; the
conversation is still saved (with the user's message) and its lease released,
so the user's next message carries on from there.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from pathors_async import Agent, AsyncPathors, PathorsError, TextDelta
from pathors_async.stores import Conversations, SQLiteStore
from pathors_async.testing import FakePathors


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client, store and agent per worker process, closed when it stops."""
    store = SQLiteStore(os.environ.get("CHAT_DB", "conversations.db"))
    async with AsyncPathors() as client:  # PATHORS_API_KEY, PATHORS_PROJECT_ID from the env
        agent = Agent(client, instructions="You are a helpful assistant.")
        # history="full" (the default): each turn sends the transcript saved in the store,
        # so whichever worker gets the request answers with the whole context, and nothing
        # depends on the service's session memory. history="server" sends only the new
        # message (smaller requests) and relies on that memory.
        # Same as Conversations(agent, store, history="full", lock_ttl=60, lock_wait=30):
        app.state.conversations = agent.conversations(
            store, history="full", lock_ttl=60, lock_wait=30
        )
        yield
        await app.state.conversations.aclose()  # saves still under way after disconnects
    await store.aclose()


app = FastAPI(lifespan=lifespan)


class ChatIn(BaseModel):
    message: str


def sse(data: Any, event: str | None = None) -> str:  # noqa: ANN401 - any JSON
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


@app.post("/chat/{user_id}")
async def chat(user_id: str, body: ChatIn, request: Request) -> StreamingResponse:
    """Answer the user's message as server-sent events: text deltas, then ``done``.

    A browser reads them with ``fetch`` and the response body's reader, as the
    page in examples/aiohttp_web_app.py does (EventSource only does GET).
    """
    conversations: Conversations = request.app.state.conversations

    async def events() -> AsyncIterator[str]:
        try:
            async with conversations.stream(user_id, body.message) as run:
                async for event in run:
                    if isinstance(event, TextDelta):
                        yield sse({"text": event.text})
            yield sse({"output": run.result.output}, event="done")
        except PathorsError as exc:  # busy, lease lost, the service failed…
            yield sse({"type": type(exc).__name__, "message": str(exc)}, event="error")

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/chat/{user_id}")
async def history(user_id: str, request: Request) -> dict[str, Any]:
    """The user's conversation so far."""
    conversation = await request.app.state.conversations.load(user_id)
    messages = conversation.messages if conversation else []
    return {"messages": [{"role": m.role, "content": m.content} for m in messages]}


@app.delete("/chat/{user_id}")
async def forget(user_id: str, request: Request) -> dict[str, bool]:
    """Forget the user's conversation."""
    await request.app.state.conversations.delete(user_id)
    return {"deleted": True}


# ---------------------------------------------------------------- offline demo


async def ask(http: aiohttp.ClientSession, base: str, user: str, text: str) -> str:
    """POST a message and read the streamed answer."""
    async with http.post(f"{base}/chat/{user}", json={"message": text}) as response:
        events = [json.loads(line[6:]) async for line in response.content if line[:6] == b"data: "]
    return "".join(event.get("text", "") for event in events)


async def main() -> None:
    async with FakePathors() as fake:
        os.environ.update(
            PATHORS_API_KEY=fake.api_key,
            PATHORS_PROJECT_ID=fake.project_id,
            PATHORS_BASE_URL=fake.url,
        )
        os.environ.setdefault("CHAT_DB", ":memory:")
        listener = socket.create_server(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        serving = asyncio.ensure_future(server.serve(sockets=[listener]))
        async with aiohttp.ClientSession() as http:  # the socket listens: no need to wait
            answers = await asyncio.gather(
                ask(http, base, "ada", "hello"), ask(http, base, "ada", "and again")
            )
            print("ada:", " | ".join(sorted(answers)))
            print("bob:", await ask(http, base, "bob", "hi"))
            async with http.get(f"{base}/chat/ada") as response:
                saved = await response.json()
            print("ada's conversation:", [m["role"] for m in saved["messages"]])
        server.should_exit = True
        await serving
        listener.close()


if __name__ == "__main__":
    asyncio.run(main())
