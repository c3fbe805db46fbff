"""A real FastAPI app under uvicorn whose browser goes away while a tool runs.

Starlette cancels a streaming response through an anyio cancel scope when the
client disconnects; the scope cancels every later ``await`` again. The saved
conversation must still answer every tool call, and the next turn must be
accepted by the (strict) emulator.
"""

import asyncio
import contextlib
import json
import socket
import threading

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from pathors_async import Agent, Conversation, TextDelta, ToolCallStarted, ToolRegistry
from pathors_async._dispatch import CANCELLED_TEXT
from pathors_async.testing._responder import SCRIPTED

from .test_readme import BLOCKS


def make_tools(started, release):
    tools = ToolRegistry()
    loop = asyncio.get_running_loop()

    @tools.tool
    async def slow_async(city: str) -> str:
        """Look something up, slowly (async)."""
        started.set()
        await asyncio.Event().wait()
        return city

    @tools.tool
    def slow_sync(city: str) -> str:
        """Look something up, slowly (in a worker thread)."""
        loop.call_soon_threadsafe(started.set)
        release.wait()
        return city

    return tools


def make_app(fake, tools, saved, saved_event):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with fake.client() as client:  # one shared client for the app's life
            app.state.agent = Agent(client, tools=tools)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/chat/{user}")
    async def chat(user: str, body: dict, mode: str = "stream"):
        agent = app.state.agent
        data = saved.get(user)
        conversation = Conversation.from_dict(data, agent=agent) if data else agent.conversation()

        async def events():
            try:
                if mode == "stream":
                    async with conversation.stream(body["message"]) as run:
                        async for event in run:
                            if isinstance(event, TextDelta):
                                yield f"data: {json.dumps(event.text)}\n\n"
                            elif isinstance(event, ToolCallStarted):
                                yield f"event: tool\ndata: {event.name}\n\n"
                else:
                    yield ": working\n\n"
                    result = await conversation.send(body["message"])
                    yield f"data: {json.dumps(result.output)}\n\n"
            finally:
                saved[user] = conversation.to_dict()  # sync: survives the cancel scope
                saved_event.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@contextlib.asynccontextmanager
async def serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def assert_every_call_answered(messages):
    for position, message in enumerate(messages):
        if message["role"] == "assistant" and message.get("tool_calls"):
            ids = [call["id"] for call in message["tool_calls"]]
            answers = messages[position + 1 : position + 1 + len(ids)]
            assert [(a["role"], a["tool_call_id"]) for a in answers] == [("tool", i) for i in ids]


@pytest.mark.parametrize("mode", ["stream", "send"])
@pytest.mark.parametrize("tool", ["slow_async", "slow_sync"])
async def test_a_browser_leaving_mid_tool_leaves_a_transcript_the_service_accepts(
    fake, retries, tool, mode
):
    started, release, saved_event = asyncio.Event(), threading.Event(), asyncio.Event()
    saved = {}
    tools = make_tools(started, release)
    fake.reply_tool_calls([{"name": tool, "arguments": {"city": "Oslo"}}])
    try:
        async with (
            serve(make_app(fake, tools, saved, saved_event)) as url,
            aiohttp.ClientSession() as http,
        ):
            response = await http.post(
                f"{url}/chat/ada", params={"mode": mode}, json={"message": "weather in Oslo?"}
            )
            assert response.status == 200
            first = await response.content.readuntil(b"\n\n")
            assert first in (b"event: tool\ndata: " + tool.encode() + b"\n\n", b": working\n\n")
            await started.wait()
            response.close()  # the browser goes away while the tool runs
            await saved_event.wait()

            messages = saved["ada"]["messages"]
            assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
            assert_every_call_answered(messages)
            assert messages[-1]["content"] == CANCELLED_TEXT

            # The next request continues the saved conversation, and the service accepts it.
            saved_event.clear()
            async with http.post(
                f"{url}/chat/ada", params={"mode": mode}, json={"message": "and now?"}
            ) as second:
                text = await second.text()
            await saved_event.wait()
            assert second.status == 200
            data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
            assert "".join(data) == f"{SCRIPTED} You said: and now?"
            assert_every_call_answered(saved["ada"]["messages"])
            assert [m["role"] for m in saved["ada"]["messages"]] == [
                "user",
                "assistant",
                "tool",
                "user",
                "assistant",
            ]
    finally:
        release.set()
        tools.close()


async def test_the_readme_fastapi_example_runs_as_written(fake, retries, monkeypatch):
    [block] = [b for b in BLOCKS if "app = FastAPI(lifespan=lifespan)" in b]
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    monkeypatch.setenv("PATHORS_API_KEY", fake.api_key)
    monkeypatch.setenv("PATHORS_PROJECT_ID", fake.project_id)
    monkeypatch.setenv("PATHORS_BASE_URL", fake.url)
    async with serve(namespace["app"]) as url, aiohttp.ClientSession() as http:
        for message in ("What's the weather in Oslo?", "thanks"):
            async with http.post(f"{url}/chat/ada", params={"message": message}) as response:
                assert response.status == 200
                text = await response.text()
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert "".join(data) == f"{SCRIPTED} You said: thanks"
    saved = namespace["saved"]["ada"]
    assert [m["role"] for m in saved["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert saved["messages"][2]["content"] == "22°C and sunny in Oslo"
