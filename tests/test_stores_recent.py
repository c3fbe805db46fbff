"""`Conversations` keeps the conversations it saved last, but only while the store holds them."""

from __future__ import annotations

import pytest

from pathors_async import Agent, Message, ToolRegistry
from pathors_async.stores import Conversations, MemoryStore, SQLiteStore, _conversations


@pytest.fixture(autouse=True)
def keep_short_ones_too(monkeypatch):
    monkeypatch.setattr(_conversations, "KEEP_FROM", 0)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path):
    made = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "c.db")
    yield made
    await made.aclose()


def user_texts(messages):
    return [m.content for m in messages if m.role == "user"]


async def test_a_record_changed_by_another_writer_is_what_the_next_turn_gets(client, store):
    conversations = Conversations(Agent(client), store)
    await conversations.send("k", "first")
    # Another process (or an admin tool) rewrites the record between two turns.
    lease = await store.acquire("k", ttl=30, wait=0, load=True)
    assert lease.data is not None
    edited = [{"role": "user", "content": "edited"}, {"role": "assistant", "content": "noted"}]
    await store.save("k", {**lease.data, "messages": lease.data["messages"] + edited}, lease)
    await store.release(lease)
    result = await conversations.send("k", "second")
    assert user_texts(result.messages) == ["first", "edited", "second"]
    # ...or deletes it: the next turn starts afresh.
    await Conversations(Agent(client), store).delete("k")
    result = await conversations.send("k", "third")
    assert user_texts(result.messages) == ["third"]


async def test_the_next_turn_continues_from_what_was_kept(client, store):
    conversations = Conversations(Agent(client), store, history="server")
    first = await conversations.send("k", "one")
    second = await conversations.send("k", "two")
    assert user_texts(second.messages) == ["one", "two"]
    assert second.session_id == first.session_id
    saved = await conversations.load("k")
    assert saved is not None
    assert saved.messages == second.messages


async def test_only_the_most_recent_are_kept_and_never_tool_results(client, monkeypatch):
    monkeypatch.setattr(_conversations, "RECENT", 2)
    tools = ToolRegistry()

    @tools.tool
    async def get_weather(location: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {location}"

    conversations = Conversations(Agent(client), MemoryStore())
    for key in ("a", "b", "c"):
        await conversations.send(key, key)
    assert list(conversations._recent) == ["b", "c"]
    with_tools = Conversations(Agent(client, tools=tools), MemoryStore())
    result = await with_tools.send("t", "What is the weather in Paris?")
    assert any(type(m) is not Message for m in result.messages)  # a ToolResult
    assert "t" not in with_tools._recent  # from the data, it would be a plain Message
    again = await with_tools.send("t", "thanks")
    assert [type(m) for m in again.messages[:4]] == [Message] * 4


async def test_short_conversations_are_not_kept(client, monkeypatch):
    monkeypatch.setattr(_conversations, "KEEP_FROM", 4)
    conversations = Conversations(Agent(client), MemoryStore())
    await conversations.send("k", "one")  # 2 messages: cheaper to build again than to keep
    assert "k" not in conversations._recent
    await conversations.send("k", "two")
    assert "k" in conversations._recent
