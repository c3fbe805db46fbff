"""examples/fastapi_chat.py under uvicorn with 2 worker processes sharing one SQLite file."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pathors_async.testing import FakePathors
from pathors_async.testing._responder import SCRIPTED

from .stores_support import REPO, worker_env


@pytest.fixture
async def emulator() -> AsyncIterator[FakePathors]:
    async with FakePathors() as fake:
        yield fake


@pytest.fixture
async def app_url(emulator, tmp_path) -> AsyncIterator[str]:
    """The example app under `uvicorn --workers 2`, on a socket we bound (no port race)."""
    listener = socket.create_server(("127.0.0.1", 0))
    env = worker_env() | {
        "PATHORS_API_KEY": emulator.api_key,
        "PATHORS_PROJECT_ID": emulator.project_id,
        "PATHORS_BASE_URL": emulator.url,
        "CHAT_DB": str(tmp_path / "chat.db"),
    }
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_chat:app", "--workers", "2"]
    server = await asyncio.create_subprocess_exec(
        *command,
        *("--fd", str(listener.fileno()), "--log-level", "warning"),
        pass_fds=(listener.fileno(),),
        cwd=REPO,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"  # it queues until uvicorn serves
    finally:
        server.terminate()
        _, err = await server.communicate()
        listener.close()
    assert b"Traceback" not in err, err.decode()


async def chat(http: aiohttp.ClientSession, url: str, text: str) -> list[dict[str, object]]:
    async with http.post(f"{url}/chat/ada", json={"message": text}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return [json.loads(line[6:]) async for line in response.content if line[:6] == b"data: "]


async def saved_messages(http: aiohttp.ClientSession, url: str) -> list[dict[str, str]]:
    async with http.get(f"{url}/chat/ada") as response:
        return (await response.json())["messages"]


async def test_concurrent_messages_of_one_user_across_workers_each_answered_once(app_url):
    texts = [f"message {i}" for i in range(6)]
    async with aiohttp.ClientSession() as http:
        streams = await asyncio.gather(*(chat(http, app_url, text) for text in texts))
        for text, events in zip(texts, streams, strict=True):
            answer = "".join(str(event.get("text", "")) for event in events)
            assert answer == f"{SCRIPTED} You said: {text}"
            assert events[-1] == {"output": answer}
        messages = await saved_messages(http, app_url)
        assert sorted(m["content"] for m in messages if m["role"] == "user") == texts
        assert len(messages) == 12
        async with http.delete(f"{app_url}/chat/ada") as response:
            assert await response.json() == {"deleted": True}
        assert await saved_messages(http, app_url) == []


async def test_a_browser_that_goes_away_mid_answer_loses_nothing(app_url, emulator):
    emulator.stall_next()  # the model "thinks" until the client has gone
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{app_url}/chat/ada", json={"message": "slow question"})
        assert response.status == 200
        await emulator.wait_for_requests(1)
        response.close()  # the browser tab is closed
        # The next message waits for the cancelled turn's save and release, then goes on.
        events = await chat(http, app_url, "are you there?")
        assert events[-1] == {"output": f"{SCRIPTED} You said: are you there?"}
        messages = await saved_messages(http, app_url)
    assert [(m["role"], m["content"]) for m in messages][:2] == [
        ("user", "slow question"),
        ("user", "are you there?"),
    ]
    assert messages[2]["role"] == "assistant"
