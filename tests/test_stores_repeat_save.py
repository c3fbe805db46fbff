"""A turn cancelled during its save saves again in the background: what that says when refused."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pathors_async import Agent, AsyncPathors
from pathors_async.stores import Conversations, MemoryStore


class SlowToAnswerStore(MemoryStore):
    """A MemoryStore whose first save is written, then answers only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()
        self.answer = asyncio.Event()

    async def save(self, key, data, lease, *, release=False):
        await super().save(key, data, lease, release=release)
        if not self.written.is_set():
            self.written.set()
            await self.answer.wait()


async def test_a_refused_repeat_of_a_save_that_went_through_does_not_say_nothing_was_written(
    client: AsyncPathors, caplog: pytest.LogCaptureFixture
):
    store = SlowToAnswerStore()
    conversations = Conversations(Agent(client), store)
    turn = asyncio.ensure_future(conversations.send("k", "hello"))
    await store.written.wait()  # saved and released, the answer not yet back...
    other = await store.acquire("k", ttl=60, wait=0)  # ...and another turn takes the lease
    turn.cancel()  # the caller is cancelled during its save: the save is repeated, refused
    with (
        caplog.at_level(logging.WARNING, logger="pathors_async.stores"),
        pytest.raises(asyncio.CancelledError),
    ):
        await turn
    await conversations.aclose()
    await store.release(other)
    assert "nothing was written" not in caplog.text
    assert "'k'" in caplog.text
    assert "may already have been written" in caplog.text
    saved = await conversations.load("k")
    assert saved is not None
    assert [m.content for m in saved.messages if m.role == "user"] == ["hello"]
