"""`ResponseLimits`: every endless or oversized answer stops at its bound, in bounded memory."""

import asyncio
import gzip
import json
import tracemalloc
import zlib

import pytest

from pathors_async import (
    APIError,
    APITimeoutError,
    AsyncPathors,
    InternalServerError,
    ResponseLimits,
    RetryPolicy,
    StreamError,
    Timeout,
)

from .conftest import KEY
from .rawserver import RawRequest, RawServer, head

HI = [{"role": "user", "content": "Hi"}]
KIB = 1024
MIB = 1024 * KIB
SSE = {"Content-Type": "text/event-stream", "Connection": "close"}
JSON = {"Content-Type": "application/json", "Connection": "close"}


def endless(headers, piece: bytes, *, status: int = 200, first: bytes = b""):
    """A handler that sends `first`, then `piece` again and again until the client leaves."""

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, headers) + first)
        while True:
            writer.write(piece)
            await writer.drain()

    return handler


def client_for(server, **limits):
    return AsyncPathors(
        api_key=KEY,
        project_id="p",
        base_url=server.url,
        limits=ResponseLimits(**limits),
        timeout=Timeout(read=5, total=30),
    )


async def stream_all(client):
    async with client.chat.completions.stream(messages=HI) as stream:
        return await stream.get_final_completion()


# ------------------------------------------------------------------ configuration


def test_defaults_and_validation():
    limits = ResponseLimits()
    assert (limits.max_line_bytes, limits.max_event_bytes, limits.max_body_bytes) == (
        1 * MIB,
        8 * MIB,
        32 * MIB,
    )
    with pytest.raises(ValueError, match=r"ResponseLimits.max_line_bytes must be 1 or more"):
        ResponseLimits(max_line_bytes=0)
    with pytest.raises(TypeError, match=r"ResponseLimits.max_body_bytes must be an int"):
        ResponseLimits(max_body_bytes=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limits must be a ResponseLimits"):
        AsyncPathors(api_key=KEY, project_id="p", limits={"max_body_bytes": 1})  # type: ignore[arg-type]


# ------------------------------------------------------------------ streams


async def test_an_sse_line_without_a_newline_stops_at_max_line_bytes():
    first = b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
    async with (
        RawServer(endless(SSE, b"x" * 16 * KIB, first=first)) as server,
        client_for(server, max_line_bytes=256 * KIB) as client,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(StreamError, match="max_line_bytes") as info:
                await stream_all(client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    message = str(info.value)
    assert "ResponseLimits(max_line_bytes=" in message  # says how to raise it
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "a"
    assert peak < 256 * KIB + 4 * MIB


async def test_data_lines_without_a_blank_line_stop_at_max_event_bytes():
    async with (
        RawServer(endless(SSE, b"data: " + b"y" * 1000 + b"\n")) as server,
        client_for(server, max_event_bytes=128 * KIB) as client,
    ):
        with pytest.raises(StreamError, match="max_event_bytes"):
            await stream_all(client)


async def test_an_endless_stream_of_comments_stops_at_max_body_bytes():
    async with (
        RawServer(endless(SSE, b": keep-alive\n\n" * 100)) as server,
        client_for(server, max_body_bytes=256 * KIB) as client,
    ):
        with pytest.raises(StreamError, match="max_body_bytes"):
            await stream_all(client)


def gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * MIB
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    return b"".join([*parts, compressor.flush()])


async def test_a_gzip_bomb_in_a_stream_stops_at_max_body_bytes():
    bomb = gzip_bomb(64 * MIB)
    headers = {**SSE, "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + bomb)
        await writer.drain()

    async with RawServer(handler) as server, client_for(server, max_body_bytes=1 * MIB) as client:
        tracemalloc.start()
        try:
            with pytest.raises(StreamError, match="max_body_bytes"):
                await stream_all(client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 1 * MIB + 4 * MIB


async def test_a_gzipped_stream_within_the_bounds_is_read():
    chunk = {
        "id": "c",
        "choices": [{"index": 0, "delta": {"content": "zip"}, "finish_reason": "stop"}],
    }
    body = gzip.compress(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
    headers = {**SSE, "Content-Encoding": "gzip", "Content-Length": str(len(body))}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + body)
        await writer.drain()

    async with RawServer(handler) as server, client_for(server) as client:
        final = await stream_all(client)
    assert final.choices[0].message.content == "zip"


# ------------------------------------------------------------------ whole bodies


async def test_an_endless_body_stops_at_max_body_bytes():
    async with (
        RawServer(endless(JSON, b"[" * 16 * KIB)) as server,
        client_for(server, max_body_bytes=512 * KIB) as client,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(APIError, match="max_body_bytes") as info:
                await client.chat.completions.create(messages=HI)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "ResponseLimits(max_body_bytes=" in str(info.value)
    assert peak < 512 * KIB + 4 * MIB


async def test_a_declared_length_past_the_bound_fails_before_reading():
    headers = {"Content-Type": "application/json", "Content-Length": str(64 * MIB)}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + b"[")
        await writer.drain()
        await asyncio.Event().wait()  # never sends the rest

    async with RawServer(handler) as server, client_for(server, max_body_bytes=MIB) as client:
        with pytest.raises(APIError, match="max_body_bytes"):
            await client.chat.completions.create(messages=HI)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_gzip_bomb_body_stops_at_max_body_bytes(encoding):
    bomb = gzip_bomb(64 * MIB) if encoding == "gzip" else zlib.compress(b" " * 64 * MIB)
    headers = {**JSON, "Content-Encoding": encoding, "Content-Length": str(len(bomb))}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + bomb)
        await writer.drain()

    async with RawServer(handler) as server, client_for(server, max_body_bytes=MIB) as client:
        with pytest.raises(APIError, match="max_body_bytes"):
            await client.chat.completions.create(messages=HI)


async def test_a_gzipped_completion_is_read():
    completion = {
        "id": "c",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "zipped"}}],
    }
    body = gzip.compress(json.dumps(completion).encode())
    headers = {**JSON, "Content-Encoding": "gzip", "Content-Length": str(len(body))}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + body)
        await writer.drain()

    async with RawServer(handler) as server, client_for(server) as client:
        answer = await client.chat.completions.create(messages=HI)
    assert answer.choices[0].message.content == "zipped"


async def test_an_unknown_content_encoding_is_an_api_error():
    headers = {**JSON, "Content-Encoding": "zz-unknown", "Content-Length": "2"}

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, headers) + b"{}")
        await writer.drain()

    async with RawServer(handler) as server, client_for(server) as client:
        with pytest.raises(APIError, match="zz-unknown"):
            await client.chat.completions.create(messages=HI)


# ------------------------------------------------------------------ error bodies


async def test_an_endless_error_page_is_read_up_to_64_kib():
    page = b"<html>" + b"oops " * 1000
    async with (
        RawServer(endless({"Content-Type": "text/html"}, page, status=500)) as server,
        client_for(server) as client,
    ):
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(messages=HI)
    assert info.value.body is not None
    assert info.value.body.startswith("<html>oops")
    assert "more characters cut" in info.value.body


async def test_a_stalled_error_body_is_a_timeout_keeping_what_arrived():
    release = asyncio.Event()

    async def handler(_: RawRequest, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": "1000"}
        writer.write(head(503, headers) + b'{"error": "half')
        await writer.drain()
        await release.wait()

    async with RawServer(handler) as server:
        client = AsyncPathors(
            api_key=KEY,
            project_id="p",
            base_url=server.url,
            timeout=Timeout(read=0.2),
            retry=RetryPolicy(max_retries=0),
        )
        async with client:
            with pytest.raises(APITimeoutError, match="503") as info:
                await client.chat.completions.create(messages=HI)
        release.set()
    assert info.value.body == '{"error": "half'
    assert len(server.requests) == 1


async def test_limits_are_shown_on_the_client():
    client = AsyncPathors(api_key=KEY, project_id="p", limits=ResponseLimits(max_body_bytes=5))
    assert client.limits.max_body_bytes == 5
    await client.aclose()
