"""`Conversations` refuses a message it could neither send nor save, before taking the lease."""

from __future__ import annotations

import pytest

from pathors_async import Agent, AsyncPathors, FunctionCall, Message, ToolCall
from pathors_async.stores import Conversations, MemoryStore, RedisStore, SQLiteStore

from .stores_support import redis_url, unique_prefix

__all__ = ["redis_url"]

BAD = ["bad \ud800 text", Message(role="user", content="x\udfff")]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
@pytest.mark.parametrize("message", BAD, ids=["text", "message"])
async def test_a_lone_surrogate_is_refused_before_the_lease_and_nothing_is_saved(
    kind, message, client: AsyncPathors, tmp_path, request
):
    store = (
        MemoryStore()
        if kind == "memory"
        else SQLiteStore(tmp_path / "c.db")
        if kind == "sqlite"
        else RedisStore(request.getfixturevalue("redis_url"), prefix=unique_prefix())
    )
    conversations = Conversations(Agent(client), store, lock_wait=0)
    try:
        await conversations.send("k", "hello")
        held = await store.acquire("k", ttl=60, wait=0)  # a turn under way elsewhere...
        with pytest.raises(ValueError, match="lone surrogate") as caught:
            await conversations.send("k", message)  # ...yet the clear error, not busy
        assert type(caught.value) is ValueError
        assert "nothing was sent or saved" in str(caught.value)
        with pytest.raises(ValueError, match="lone surrogate"):
            async with conversations.stream("k", message):
                pytest.fail("the run must not start")  # pragma: no cover
        await store.release(held)
        await conversations.send("k", "after")
        saved = await conversations.load("k")
        assert saved is not None
        assert [m.content for m in saved.messages if m.role == "user"] == ["hello", "after"]
    finally:
        await conversations.aclose()
        await store.aclose()


async def test_a_lone_surrogate_anywhere_in_a_message_is_refused(client: AsyncPathors):
    conversations = Conversations(Agent(client), MemoryStore())
    with pytest.raises(ValueError, match=r"the name of the message .*lone surrogate"):
        await conversations.send("k", Message(role="user", content="fine", name="a\udc80"))
    call = ToolCall(id="c1", function=FunctionCall(name="f", arguments='{"a": "\udbff"}'))
    with pytest.raises(ValueError, match=r"the tool call arguments of .*lone surrogate"):
        async with conversations.stream("k", Message(role="assistant", tool_calls=[call])):
            pytest.fail("the run must not start")  # pragma: no cover
    assert await conversations.load("k") is None


async def test_a_message_dict_is_sent_as_conversation_send_takes_it(client: AsyncPathors):
    conversations = Conversations(Agent(client), MemoryStore(), lock_wait=0)
    result = await conversations.send("k", {"role": "user", "content": "hello"})
    assert "hello" in (result.output or "")
    with pytest.raises(ValueError, match="lone surrogate"):
        await conversations.send("k", {"role": "user", "content": "bad \ud800"})
    with pytest.raises(TypeError, match="send\\(\\) takes the user's text"):
        await conversations.send("k", 5)  # type: ignore[arg-type]
    saved = await conversations.load("k")
    assert saved is not None
    assert [m.content for m in saved.messages if m.role == "user"] == ["hello"]
