"""The transport against raw servers: bodies that break, stall or lie about their encoding."""

import asyncio

import pytest

from pathors_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncPathors,
    RetryPolicy,
    StreamError,
    Timeout,
)
from pathors_async._transport import aiohttp_timeout

from .conftest import KEY
from .rawserver import RawRequest, RawServer, head, replying

HI = [{"role": "user", "content": "Hi"}]


def client_for(server, **options):
    return AsyncPathors(
        api_key=KEY,
        project_id="p",
        base_url=server.url,
        retry=RetryPolicy(max_retries=0),
        **options,
    )


async def stream_all(client):
    async with client.chat.completions.stream(messages=HI) as stream:
        return await stream.get_final_completion()


@pytest.mark.parametrize("content_type", ["application/json", "text/event-stream"])
async def test_a_corrupt_gzip_body_is_a_typed_error(content_type):
    reply = head(200, {"Content-Type": content_type, "Content-Encoding": "gzip"}) + b"\x1f\x8bnope"
    async with RawServer(replying(reply)) as server, client_for(server) as client:
        if content_type == "application/json":
            with pytest.raises(APIError, match="corrupt"):
                await client.chat.completions.create(messages=HI)
        else:
            with pytest.raises(StreamError, match="corrupt"):
                await stream_all(client)


async def test_a_body_cut_short_of_its_declared_length():
    reply = head(200, {"Content-Type": "application/json", "Content-Length": "1000"}) + b'{"id"'
    async with RawServer(replying(reply)) as server, client_for(server) as client:
        with pytest.raises(APIConnectionError, match="while reading the body of POST") as info:
            await client.chat.completions.create(messages=HI)
    assert not isinstance(info.value, APITimeoutError)


async def test_a_body_that_stalls_is_a_read_timeout():
    release = asyncio.Event()

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "application/json", "Content-Length": "99"}) + b"{")
        await writer.drain()
        await release.wait()

    async with RawServer(handler) as server:
        async with client_for(server, timeout=Timeout(read=0.2)) as client:
            with pytest.raises(APITimeoutError, match=r"Timeout\.read\) in the body of POST"):
                await client.chat.completions.create(messages=HI)
        release.set()


def sse_chunk(text: str) -> bytes:
    chunk = (
        '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
        f'"choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}'
    )
    return f"data: {chunk}\n\n".encode()


async def read_asking_for_more(client, more: asyncio.Queue[str]) -> None:
    async with client.chat.completions.stream(messages=HI) as stream:
        more.put_nowait("one ")
        async for chunk in stream:
            word = chunk.choices[0].delta.content
            more.put_nowait({"one ": "two ", "two ": "three"}.get(word, ""))


async def test_a_stream_that_stalls_after_some_events_is_a_read_timeout():
    # Each event is sent only once the one before has been read, so they arrive after the
    # headers, in packets of their own: the stream's read limit is timed by the client then.
    more = asyncio.Queue[str]()
    release = asyncio.Event()

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "text/event-stream"}))
        await writer.drain()
        for _ in range(3):
            writer.write(sse_chunk(await more.get()))
            await writer.drain()
        await release.wait()

    async with RawServer(handler) as server:
        timeout = Timeout(read=0.2, total=10)
        async with client_for(server, timeout=timeout) as client:
            with pytest.raises(APITimeoutError, match=r"no data for 0.2 s") as info:
                await read_asking_for_more(client, more)
        release.set()
    partial = info.value.partial_completion
    assert partial is not None
    assert partial.choices[0].message.content == "one two three"
    assert "(Timeout.read) in the stream" in str(info.value)


async def test_an_unknown_encoding_on_an_error_status_still_gives_the_status():
    reply = head(503, {"Content-Encoding": "zz", "Content-Length": "4"}) + b"oops"
    async with RawServer(replying(reply)) as server, client_for(server) as client:
        with pytest.raises(APIError) as info:
            await client.chat.completions.create(messages=HI)
    assert getattr(info.value, "status_code", None) == 503


async def test_a_finished_stream_leaves_no_read_timer_behind():
    go = asyncio.Event()

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "text/event-stream"}))
        await writer.drain()
        await go.wait()
        writer.write(sse_chunk("one") + b"data: [DONE]\n\n")
        await writer.drain()

    async with RawServer(handler) as server, client_for(server, timeout=Timeout(read=5)) as client:
        async with client.chat.completions.stream(messages=HI) as stream:
            go.set()
            assert await stream.get_final_completion()
            source = stream._source
            assert source is not None
            assert source._read_limit == 5
        assert source._watchdog is None


# ------------------------------------------------------------ aiohttp timeouts


@pytest.mark.parametrize(
    ("read", "time_left", "sock_read"),
    [
        (120.0, 600.0, 120.0),  # read can end a wait before total: its timer stays
        (600.0, 600.0, None),  # total ends every wait first: one timer, not two
        (30.0, 5.0, None),
        (30.0, None, 30.0),  # no total: read is the only limit
        (None, 5.0, None),
    ],
)
def test_the_read_timer_is_left_out_only_when_total_always_ends_a_wait_first(
    read, time_left, sock_read
):
    timeout = Timeout(connect=3, read=read, total=time_left)
    made = aiohttp_timeout(timeout, time_left)
    assert (made.total, made.sock_connect, made.sock_read) == (time_left, 3, sock_read)


async def test_many_per_call_timeouts_each_apply_their_own_limit(client, fake):
    for seconds in range(1, 40):  # more distinct timeouts than the transport keeps made
        fake.reply(f"ok {seconds}")
        completion = await client.chat.completions.create(messages=HI, timeout=float(seconds))
        assert completion.choices[0].message.content == f"ok {seconds}"
    fake.stall_next()
    with pytest.raises(APITimeoutError, match=r"0\.05 s \(Timeout\.read\)"):
        await client.chat.completions.create(messages=HI, timeout=Timeout(read=0.05, total=30))


@pytest.mark.parametrize("time_left", [0.0, -0.5])
def test_no_time_left_is_never_read_by_aiohttp_as_no_limit(time_left):
    made = aiohttp_timeout(Timeout(connect=1, read=5, total=10), time_left)
    assert made.total is not None
    assert 0 < made.total <= 0.001
