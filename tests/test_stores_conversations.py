"""`Conversations`: lease, load, run, save, release, whatever ends the run."""

from __future__ import annotations

import asyncio
import contextlib

import anyio
import pytest
from redis.asyncio import Redis

from pathors_async import (
    Agent,
    ConversationBusy,
    InternalServerError,
    LeaseLost,
    MaxTurnsExceeded,
    StoreError,
    TextDelta,
    ToolRegistry,
)
from pathors_async.stores import Conversations, MemoryStore, RedisStore, SQLiteStore
from pathors_async.testing._responder import SCRIPTED

from .stores_support import redis_url, unique_prefix

__all__ = ["redis_url"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """A MemoryStore that counts calls and signals after `renewals` renewals."""

    def __init__(self, renewals: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []
        self.renewed = asyncio.Event()
        self._renewals = renewals

    async def acquire(self, key, *, ttl, wait, load=False):
        self.calls.append("acquire+load" if load else "acquire")
        return await super().acquire(key, ttl=ttl, wait=wait, load=load)

    async def renew(self, lease, *, ttl):
        self.calls.append("renew")
        if self.calls.count("renew") >= self._renewals:
            self.renewed.set()
        return await super().renew(lease, ttl=ttl)

    async def release(self, lease):
        self.calls.append("release")
        await super().release(lease)

    async def save(self, key, data, lease, *, release=False):
        self.calls.append("save+release" if release else "save")
        await super().save(key, data, lease, release=release)


@pytest.fixture
def gate():
    return {"entered": asyncio.Event(), "go": asyncio.Event()}


@pytest.fixture
def agent(client, gate):
    tools = ToolRegistry()

    @tools.tool
    async def wait_for_go() -> str:
        """Wait until the test says go."""
        gate["entered"].set()
        await gate["go"].wait()
        return "went"

    return Agent(client, tools=tools)


def user_texts(conversation):
    return [m.content for m in conversation.messages if m.role == "user"]


async def test_send_leases_loads_runs_saves_and_releases_in_two_store_calls(agent):
    store = CountingStore()
    conversations = agent.conversations(store)
    first = await conversations.send("ada", "hello")
    assert first.output == f"{SCRIPTED} You said: hello"
    assert store.calls == ["acquire+load", "save+release"]
    second = await conversations.send("ada", "again")
    assert second.output == f"{SCRIPTED} You said: again"
    saved = await conversations.load("ada")
    assert saved is not None
    assert user_texts(saved) == ["hello", "again"]
    assert saved.session_id == first.session_id == second.session_id
    assert await conversations.load("bob") is None
    assert "lock_ttl=60" in repr(conversations)


async def test_concurrent_sends_to_one_key_each_run_once_in_turn(agent, tmp_path):
    store = SQLiteStore(tmp_path / "c.db")
    conversations = Conversations(agent, store, lock_wait=60)
    texts = [f"m{i}" for i in range(20)]
    results = await asyncio.gather(*(conversations.send("k", text) for text in texts))
    assert [r.output for r in results] == [f"{SCRIPTED} You said: {t}" for t in texts]
    saved = await conversations.load("k")
    assert saved is not None
    assert sorted(user_texts(saved)) == sorted(texts)
    assert len(saved.messages) == 40
    await store.aclose()


async def test_a_second_send_waits_then_is_busy(agent, gate, fake):
    conversations = Conversations(agent, MemoryStore(), lock_wait=0.05)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    first = asyncio.ensure_future(conversations.send("k", "first"))
    await gate["entered"].wait()
    with pytest.raises(ConversationBusy, match="lock_wait"):
        await conversations.send("k", "second")
    gate["go"].set()
    await first
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["first"]


async def test_a_run_longer_than_the_ttl_keeps_its_lease(agent, gate, fake):
    store = CountingStore(renewals=4)  # 4 renewals, a third of the ttl apart: > ttl
    conversations = Conversations(agent, store, lock_ttl=0.15, lock_wait=0)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "slow"))
    await gate["entered"].wait()
    await asyncio.wait_for(store.renewed.wait(), 60)  # a guard: fail, not hang, if never renewed
    with pytest.raises(ConversationBusy):
        await conversations.send("k", "meanwhile")
    gate["go"].set()
    result = await run
    assert result.output.endswith("wait_for_go: went")
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["slow"]
    assert store.calls[-1] == "save+release"


async def test_a_save_after_the_lease_was_taken_is_refused(agent, gate, fake):
    clock = Clock()
    store = MemoryStore(clock=clock)
    conversations = Conversations(agent, store, lock_ttl=60)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "paused"))
    await gate["entered"].wait()
    clock.now += 61  # as if this process had been paused past the lease's ttl
    other = await store.acquire("k", ttl=60, wait=0)
    await store.save("k", {"format": "elsewhere"}, other, release=True)
    gate["go"].set()
    with pytest.raises(LeaseLost, match="nothing was written") as info:
        await run
    assert info.value.messages is not None
    assert [m.content for m in info.value.messages][:1] == ["paused"]  # nothing lost
    assert await store.load("k") == {"format": "elsewhere"}


async def test_a_failed_turn_is_saved_with_the_message_and_resumed_once(agent, fake, retries):
    store = CountingStore()
    conversations = Conversations(agent, store)
    fake.fail_next(500)
    with pytest.raises(InternalServerError) as info:
        await conversations.send("k", "hello")
    assert info.value.messages is not None
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["hello"]
    result = await conversations.send("k", None)
    assert result.output == f"{SCRIPTED} You said: hello"
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["hello"]
    assert [m.role for m in saved.messages] == ["user", "assistant"]


async def test_resuming_nothing_releases_the_lease(agent):
    store = CountingStore()
    conversations = Conversations(agent, store)
    with pytest.raises(ValueError, match="nothing to resume"):
        await conversations.send("k", None)
    assert store.calls == ["acquire+load", "release"]
    assert await store.load("k") is None
    with pytest.raises(ValueError, match="send"):
        async with conversations.stream("k", None):
            pass


async def test_resuming_an_answered_turn_is_refused_and_releases(agent, fake):
    store = CountingStore()
    conversations = Conversations(agent, store, lock_wait=0)
    await conversations.send("k", "hello")
    sent = len(fake.requests)
    with pytest.raises(ValueError, match="nothing to resume: the last turn of 'k' was answered"):
        await conversations.send("k", None)
    assert len(fake.requests) == sent
    assert store.calls[-2:] == ["acquire+load", "release"]
    saved = await conversations.load("k")
    assert saved is not None
    assert [m.role for m in saved.messages] == ["user", "assistant"]
    assert (await conversations.send("k", "again")).output.endswith("again")


async def test_max_turns_saves_the_answered_transcript(client, fake):
    tools = ToolRegistry()

    @tools.tool
    def echo() -> str:
        """Echo."""
        return "echo"

    conversations = Conversations(Agent(client, tools=tools, max_turns=1), MemoryStore())
    fake.reply_tool_calls([{"name": "echo"}])
    with pytest.raises(MaxTurnsExceeded):
        await conversations.send("k", "loop")
    saved = await conversations.load("k")
    assert saved is not None
    assert [m.role for m in saved.messages] == ["user", "assistant", "tool"]


async def test_stream_yields_the_run_and_saves_after(agent):
    store = CountingStore()
    conversations = Conversations(agent, store)
    async with conversations.stream("k", "hi there") as run:
        text = "".join([e.text async for e in run if isinstance(e, TextDelta)])
    assert text == f"{SCRIPTED} You said: hi there"
    assert run.result.output == text
    assert store.calls == ["acquire+load", "save+release"]
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["hi there"]


async def test_leaving_a_stream_early_still_saves_the_message(agent):
    conversations = Conversations(agent, MemoryStore())
    async with conversations.stream("k", "bye") as run:
        async for _event in run:
            break
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["bye"]


async def test_a_cancelled_send_saves_the_message_and_releases(agent, fake):
    store = CountingStore()
    conversations = Conversations(agent, store)
    fake.stall_next()
    task = asyncio.ensure_future(conversations.send("k", "are you there?"))
    await fake.wait_for_requests(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await conversations.aclose()
    assert store.calls == ["acquire+load", "save+release"]
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["are you there?"]
    result = await conversations.send("k", None)
    assert result.output == f"{SCRIPTED} You said: are you there?"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_an_anyio_cancel_scope_cannot_stop_the_save(kind, agent, fake, tmp_path, request):
    """A level-triggered cancel (Starlette when the browser goes away) hits every await."""
    store = (
        SQLiteStore(tmp_path / "c.db")
        if kind == "sqlite"
        else RedisStore(request.getfixturevalue("redis_url"), prefix=unique_prefix())
    )
    conversations = Conversations(agent, store)
    fake.stall_next()

    async def cancel_once_asked() -> None:
        await fake.wait_for_requests(1)
        scope.cancel()

    with anyio.CancelScope() as scope:
        canceller = asyncio.ensure_future(cancel_once_asked())
        async with conversations.stream("k", "hello?") as run:
            async for _event in run:
                pass
    await canceller
    assert scope.cancelled_caught
    await conversations.aclose()
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["hello?"]
    lease = await store.acquire("k", ttl=1, wait=0)  # released
    await store.release(lease)
    await store.aclose()


async def test_delete_waits_for_the_turn_then_forgets(agent, gate, fake):
    conversations = Conversations(agent, MemoryStore())
    await conversations.send("k", "one")
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    running = asyncio.ensure_future(conversations.send("k", "two"))
    await gate["entered"].wait()
    deleting = asyncio.ensure_future(conversations.delete("k"))
    await asyncio.sleep(0.02)
    assert not deleting.done()
    gate["go"].set()
    await running
    await deleting
    assert await conversations.load("k") is None


async def test_a_damaged_record_is_a_store_error_that_releases(agent):
    store = MemoryStore()
    lease = await store.acquire("k", ttl=5, wait=0)
    await store.save("k", {"format": "something else"}, lease, release=True)
    conversations = Conversations(agent, store)
    with pytest.raises(StoreError, match="not a conversation"):
        await conversations.send("k", "hi")
    with pytest.raises(StoreError, match="delete it"):
        await conversations.load("k")
    await conversations.delete("k")
    assert (await conversations.send("k", "hi")).output.endswith("You said: hi")


class FailingSaveStore(CountingStore):
    """Its next save raises `failure` once; its next release after that too, if asked."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None
        self.fail_release = False

    async def save(self, key, data, lease, *, release=False):
        failure, self.failure = self.failure, None
        if failure is not None:
            self.calls.append("save failed")
            raise failure
        await super().save(key, data, lease, release=release)

    async def release(self, lease):
        if self.fail_release:
            self.fail_release = False
            self.calls.append("release failed")
            raise StoreError("release: store down", key=lease.key)
        await super().release(lease)


@pytest.mark.parametrize("fail_release", [False, True])
async def test_a_failed_final_save_keeps_the_turn_and_releases(agent, fail_release, caplog):
    store = FailingSaveStore()
    conversations = Conversations(agent, store, lock_wait=0)
    await conversations.send("k", "first")
    store.failure = StoreError("boom: store down", key="k")
    store.fail_release = fail_release
    with pytest.raises(StoreError, match="boom") as info:
        await conversations.send("k", "second")
    assert info.value.messages is not None
    assert [m.content for m in info.value.messages if m.role == "user"] == ["first", "second"]
    assert info.value.messages[-1].role == "assistant"
    assert store.calls[-2:] == ["save failed", "release failed" if fail_release else "release"]
    if fail_release:  # the save's error is raised, the release's is logged
        assert "releasing the lease after a failed save failed too" in caplog.text
        return
    result = await conversations.send("k", "third")  # not ConversationBusy
    assert result.output.endswith("You said: third")


async def test_a_bare_error_from_a_custom_store_save_becomes_a_store_error(agent):
    store = FailingSaveStore()
    conversations = Conversations(agent, store, lock_wait=0)
    store.failure = OSError("disk full")
    expected = "saving conversation 'k' failed: OSError: disk full"
    with pytest.raises(StoreError, match=expected) as info:
        await conversations.send("k", "hello")
    assert isinstance(info.value.__cause__, OSError)
    assert [m.role for m in info.value.messages or []] == ["user", "assistant"]
    assert (await conversations.send("k", "again")).output.endswith("again")


async def test_redis_conversations(agent, redis_url):
    store = RedisStore(redis_url, prefix=unique_prefix())
    conversations = Conversations(agent, store, history="server")
    await asyncio.gather(*(conversations.send("k", f"m{i}") for i in range(10)))
    saved = await conversations.load("k")
    assert saved is not None
    assert sorted(user_texts(saved)) == sorted(f"m{i}" for i in range(10))
    assert saved.history == "server"
    await store.aclose()


async def test_a_redis_fence_outlives_a_turn_longer_than_the_idle_ttl(agent, gate, fake, redis_url):
    store = RedisStore(redis_url, prefix=unique_prefix(), idle_ttl=0.5)
    conversations = Conversations(agent, store, lock_ttl=0.3, lock_wait=0)
    await conversations.send("k", "first")
    fence = store._keys("k")[1]
    admin = Redis.from_url(redis_url)
    first = int(await admin.get(fence))
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "slow"))
    await gate["entered"].wait()
    await asyncio.sleep(0.9)  # time itself is the subject: past the idle ttl, renewed all along
    assert await admin.exists(fence)
    gate["go"].set()
    assert (await run).output.endswith("wait_for_go: went")  # the fenced save was accepted
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["first", "slow"]
    lease = await store.acquire("k", ttl=1, wait=0)
    assert lease.token == first + 2  # tokens only grew
    await store.release(lease)
    assert 0 < await admin.pttl(fence) <= 1500
    await admin.aclose()
    await store.aclose()


def test_bad_options_are_refused(agent):
    with pytest.raises(ValueError, match="history"):
        Conversations(agent, MemoryStore(), history="some")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ConversationStore"):
        Conversations(agent, {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lock_ttl"):
        Conversations(agent, MemoryStore(), lock_ttl=0)


async def test_an_error_in_the_stream_block_saves_then_propagates(agent):
    conversations = Conversations(agent, MemoryStore())

    async def fail_while_streaming() -> None:
        async with conversations.stream("k", "hello") as run:
            async for _event in run:
                raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await fail_while_streaming()
    saved = await conversations.load("k")
    assert saved is not None
    assert user_texts(saved) == ["hello"]


class FlakyRenewals(CountingStore):
    """The first renewal fails as a store outage would; the next ones work."""

    async def renew(self, lease, *, ttl):
        if "renew" not in self.calls:
            self.calls.append("renew")
            raise StoreError("the store is down for a moment", key=lease.key)
        return await super().renew(lease, ttl=ttl)


async def test_a_failed_renewal_is_logged_and_tried_again(agent, gate, fake, caplog):
    store = FlakyRenewals(renewals=3)
    conversations = Conversations(agent, store, lock_ttl=0.15, lock_wait=0)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "slow"))
    await gate["entered"].wait()
    await asyncio.wait_for(store.renewed.wait(), 60)  # a guard: fail, not hang
    gate["go"].set()
    await run
    assert "renewing the lease failed: the store is down for a moment" in caplog.text


async def test_a_lease_lost_during_a_cancelled_turn_is_logged(agent, gate, fake, caplog):
    clock = Clock()
    store = MemoryStore(clock=clock)
    conversations = Conversations(agent, store, lock_ttl=60)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "paused"))
    await gate["entered"].wait()
    clock.now += 61
    other = await store.acquire("k", ttl=60, wait=0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):  # the cancellation goes on as it was
        await run
    assert "is no longer held" in caplog.text
    await store.release(other)


class Proxy:
    """A TCP proxy to Redis on 127.0.0.1 that can cut every connection (Redis 'stopped')."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(source, sink) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_redis_cut_off_mid_turn_is_a_store_error_with_the_transcript(
    agent, gate, fake, redis_url, caplog
):
    proxy = Proxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    port = await proxy.start()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", prefix=unique_prefix())
    conversations = Conversations(agent, store, lock_wait=0)
    fake.reply_tool_calls([{"name": "wait_for_go"}])
    run = asyncio.ensure_future(conversations.send("k", "lookup"))
    await gate["entered"].wait()
    await proxy.stop()  # Redis is gone for this store from here on
    gate["go"].set()
    with pytest.raises(StoreError, match="check that the server is up") as info:
        await run
    assert [m.content for m in info.value.messages or [] if m.role == "user"] == ["lookup"]
    assert info.value.messages is not None
    assert info.value.messages[-1].role == "assistant"  # the answer is not lost
    assert "releasing the lease after a failed save failed too" in caplog.text
    await store.aclose()
