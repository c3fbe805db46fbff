"""The store promises across real processes: one turn at a time, crashes, paused holders.

Each worker is a separate Python process (``tests/store_worker.py``) talking to
the emulator in this process; they share a SQLite file or a real redis-server.
The test and the workers synchronise through pipes, never through sleeps.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest

from pathors_async import Agent, ConversationBusy
from pathors_async.stores import Conversations, RedisStore, SQLiteStore
from pathors_async.testing import FakePathors
from pathors_async.testing._responder import SCRIPTED

from .stores_support import WORKER, make_store, redis_url, unique_prefix, worker_env

__all__ = ["redis_url"]

WORKERS = 4
SENDS = 25


@pytest.fixture(params=["sqlite", "redis"])
def spec(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared.db'}"
    return f"redis:{request.getfixturevalue('redis_url')}|{unique_prefix()}"


@pytest.fixture
async def emulator() -> AsyncIterator[FakePathors]:
    async with FakePathors() as fake:
        yield fake


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *WORKER,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=worker_env(),
    )


async def expect_line(process: asyncio.subprocess.Process, expected: str) -> str:
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode().strip()
    if not line.startswith(expected):
        assert process.stderr is not None
        err = (await process.stderr.read()).decode()
        pytest.fail(f"expected {expected!r} from the worker, got {line!r}; stderr:\n{err}")
    return line


def say(process: asyncio.subprocess.Process, line: str = "go") -> None:
    assert process.stdin is not None
    process.stdin.write(f"{line}\n".encode())


async def test_four_processes_times_25_sends_to_one_key_each_run_exactly_once(spec, emulator):
    workers = [
        await start("burst", spec, emulator.url, "hot", f"w{n}", str(SENDS)) for n in range(WORKERS)
    ]
    for worker in workers:
        await expect_line(worker, "ready")
    for worker in workers:  # all start together
        say(worker)
    outputs = []
    for worker in workers:
        out, err = await worker.communicate()
        assert worker.returncode == 0, err.decode()
        outputs.append(json.loads(out))
    assert [summary["sent"] for summary in outputs] == [SENDS] * WORKERS

    store = make_store(spec)
    data = await store.load("hot")
    await store.aclose()
    assert data is not None
    messages = data["messages"]
    sent = [f"w{n}-{i}" for n in range(WORKERS) for i in range(SENDS)]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert sorted(users) == sorted(sent)  # every message, each exactly once
    assert len(messages) == 2 * len(sent)
    for asked, answer in zip(messages[::2], messages[1::2], strict=True):
        assert asked["role"] == "user"
        assert answer["role"] == "assistant"
        assert answer["content"] == f"{SCRIPTED} You said: {asked['content']}"


async def holder(spec: str, emulator: FakePathors, key: str) -> asyncio.subprocess.Process:
    """A worker holding `key`'s lease (ttl 1 s), in a tool that waits for our line."""
    emulator.reply_tool_calls([{"name": "block"}])
    worker = await start("hold", spec, emulator.url, key, "1")
    await expect_line(worker, "in-tool")
    return worker


async def test_busy_then_a_killed_holder_frees_the_conversation_after_the_ttl(spec, emulator):
    worker = await holder(spec, emulator, "k")
    store = make_store(spec)
    async with emulator.client() as client:
        conversations = Conversations(Agent(client), store, lock_ttl=5, lock_wait=1.5)
        with pytest.raises(ConversationBusy):  # longer than its 1 s ttl: the holder renews
            await conversations.send("k", "hello?")
        worker.send_signal(signal.SIGKILL)
        await worker.communicate()
        assert worker.returncode == -signal.SIGKILL
        conversations.lock_wait = 10  # now the lease expires within its 1 s ttl
        result = await conversations.send("k", "anyone?")
    assert result.output == f"{SCRIPTED} You said: anyone?"
    saved = await store.load("k")
    await store.aclose()
    assert saved is not None
    assert [m["content"] for m in saved["messages"] if m["role"] == "user"] == ["anyone?"]


async def test_a_paused_holder_loses_its_lease_and_its_late_save_is_refused(spec, emulator):
    worker = await holder(spec, emulator, "k")
    worker.send_signal(signal.SIGSTOP)  # a GC pause, a stuck VM: no renewals now
    store = make_store(spec)
    try:
        async with emulator.client() as client:
            conversations = Conversations(Agent(client), store, lock_ttl=5, lock_wait=10)
            result = await conversations.send("k", "took over")
    finally:
        worker.send_signal(signal.SIGCONT)
    assert result.output == f"{SCRIPTED} You said: took over"
    say(worker)  # the tool returns; the run ends; its save must be refused
    line = await expect_line(worker, "LeaseLost")
    assert int(line.split()[1]) >= 3  # its transcript, handed back on the error
    await worker.communicate()
    assert worker.returncode == 0
    saved = await store.load("k")
    await store.aclose()
    assert saved is not None
    assert [m["content"] for m in saved["messages"] if m["role"] == "user"] == ["took over"]


def test_the_spec_helper_builds_each_store(tmp_path):
    assert isinstance(make_store(f"sqlite:{tmp_path / 'x.db'}"), SQLiteStore)
    assert isinstance(make_store("redis:redis://127.0.0.1:9/0|p:"), RedisStore)
