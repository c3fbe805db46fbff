"""ChatCompletionStream against the emulator: assembly, faults, retries, closing."""

import asyncio
import json

import pytest

import pathors_async
from pathors_async import (
    APIError,
    APITimeoutError,
    ChatCompletionChunk,
    InternalServerError,
    Message,
    RateLimitError,
    ResponseLimits,
    StreamError,
    Timeout,
)
from pathors_async._stream import ChatCompletionStream, from_bytes

HI = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


# ------------------------------------------------------------------ the stream, end to end


def acquired(client):
    """Connections checked out of the pool right now (aiohttp keeps them in a private set)."""
    return len(client._transport.http_session.connector._acquired)


def idle(client):
    return sum(len(conns) for conns in client._transport.http_session.connector._conns.values())


async def test_a_text_stream(client, fake):
    fake.reply("Hello there, how are you?")
    async with client.chat.completions.stream(messages=HI) as stream:
        # The session id comes with the headers, before any chunk.
        assert stream.session_id is not None
        assert stream.session_id in fake.sessions
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_completion()
    assert texts == ["Hello ", "there, ", "how ", "are ", "you?"]
    assert final.choices[0].message == Message(
        role="assistant", content="Hello there, how are you?"
    )
    assert final.choices[0].finish_reason == "stop"
    assert final.session_id == stream.session_id
    assert final.id.startswith("chatcmpl-")
    assert fake.requests[0].body["stream"] is True
    assert acquired(client) == 0
    assert idle(client) == 1  # the connection went back to the pool, ready for reuse


async def test_chunks_and_the_current_completion(client, fake):
    fake.reply("one two")
    seen = []
    async with client.chat.completions.stream(messages=HI) as stream:
        async for piece in stream:
            assert isinstance(piece, ChatCompletionChunk)
            assert piece.session_id == stream.session_id
            seen.append(stream.current_completion.choices[0].message.content)
    assert seen == [None, "one ", "one two", "one two"]


async def test_a_streamed_tool_call_matches_the_whole_answer(client, fake):
    call = {"name": "get_weather", "arguments": {"location": "Taipei", "unit": "c"}, "id": "c9"}
    fake.reply_tool_calls([call])
    whole = await client.chat.completions.create(messages=HI, tools=[WEATHER])
    fake.reply_tool_calls([call])
    async with client.chat.completions.stream(messages=HI, tools=[WEATHER]) as stream:
        streamed = await stream.get_final_completion()
    assert streamed.choices == whole.choices
    [tool_call] = streamed.choices[0].message.tool_calls or ()
    assert json.loads(tool_call.function.arguments) == {"location": "Taipei", "unit": "c"}
    # The arguments really came in fragments.
    assert fake.requests[1].body["tools"] == [WEATHER]


async def test_a_stream_consumed_without_async_with_closes_itself(client, fake):
    stream = client.chat.completions.stream(messages=HI)
    assert "not started" in repr(stream)
    pieces = [piece async for piece in stream]
    assert pieces
    assert acquired(client) == 0
    assert (await stream.get_final_completion()).choices[0].finish_reason == "stop"


async def test_the_session_continues(client, fake):
    async with client.chat.completions.stream(messages=HI, session_id="s-7") as stream:
        await stream.get_final_completion()
    assert stream.session_id == "s-7"
    assert fake.requests[0].session_id == "s-7"


async def test_noise_between_chunks_is_skipped(client, fake):
    fake.noisy_stream_next()  # comments, id/retry frames, empty data, CRLF line ends
    fake.reply("still fine")
    async with client.chat.completions.stream(messages=HI) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "still fine"


async def test_a_clean_end_without_done_is_fine_when_every_choice_finished(client, fake):
    fake.reply("a b")  # role, "a ", "b", finish: 4 chunks
    fake.end_stream_next(after=4)
    async with client.chat.completions.stream(messages=HI) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "a b"


async def test_a_body_left_open_after_done_does_not_hold_the_caller(client, fake):
    fake.reply("done here")
    fake.linger_after_done_next()
    async with client.chat.completions.stream(messages=HI) as stream:
        final = await stream.get_final_completion()  # after a short grace, not a read timeout
    assert final.choices[0].message.content == "done here"
    assert acquired(client) == 0
    assert idle(client) == 0  # that connection could not be reused: it was dropped


async def test_the_connection_is_reused_after_a_stream(client, fake):
    for _ in range(3):
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert idle(client) == 1
    assert len({request.peer for request in fake.requests}) == 1


# ------------------------------------------------------------------ failures keep what arrived


def partial_text(error):
    assert error.partial_completion is not None
    return error.partial_completion.choices[0].message.content


async def test_a_cut_connection(client, fake):
    fake.reply("one two three four")
    fake.cut_stream_next(after=3)
    with pytest.raises(StreamError, match="the connection was cut during the stream") as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert partial_text(info.value) == "one two "
    assert len(fake.requests) == 1  # bytes reached the caller: never retried
    assert acquired(client) == 0


async def test_an_end_without_done_or_finish_reason(client, fake):
    fake.reply("one two three")
    fake.end_stream_next(after=2)
    with pytest.raises(StreamError, match="without \\[DONE\\] and before every choice") as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert partial_text(info.value) == "one "


async def test_a_line_that_is_not_json(client, fake):
    fake.reply("one two")
    fake.corrupt_stream_next(after=2, line='data: {"id": oops}')
    with pytest.raises(StreamError) as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert "chunk 3 of the stream" in str(info.value)
    assert 'is not JSON (Expecting value: line 1 column 8 (char 7)): data: {"id": oops}' in str(
        info.value
    )
    assert partial_text(info.value) == "one "


async def test_json_that_is_not_a_chunk(client, fake):
    fake.corrupt_stream_next(after=1, line="data: [1, 2]")
    with pytest.raises(StreamError, match=r"is not a chat\.completion\.chunk"):
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()


async def test_an_error_event(client, fake):
    fake.reply("one two")
    fake.error_in_stream_next(after=2, message="pathway crashed")
    with pytest.raises(
        StreamError, match=r"reported an error in the stream .* pathway crashed"
    ) as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert type(info.value) is StreamError
    assert partial_text(info.value) == "one "
    assert json.loads(info.value.body or "") == {"error": {"message": "pathway crashed"}}


@pytest.mark.parametrize("as_event", [True, False])
async def test_an_error_payload_with_a_status_is_typed(client, fake, as_event):
    fake.reply("one two")
    fake.error_in_stream_next(after=2, message="slow down", status=429, as_event=as_event)
    with pytest.raises(RateLimitError) as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert info.value.status_code == 429
    assert info.value.session_id == stream.session_id
    assert partial_text(info.value) == "one "


async def test_a_stalled_stream_times_out_after_the_read_limit(client, fake):
    fake.reply("one two three")
    fake.stall_stream_next(after=2)
    with pytest.raises(APITimeoutError, match=r"no data for 0.2 s \(Timeout.read\)") as info:
        async with client.chat.completions.stream(messages=HI, timeout=Timeout(read=0.2)) as stream:
            await stream.get_final_completion()
    assert isinstance(info.value, TimeoutError)
    assert partial_text(info.value) == "one "
    assert acquired(client) == 0


async def test_the_total_limit_covers_the_body(client, fake):
    fake.stall_stream_next(after=1)
    with pytest.raises(APITimeoutError, match=r"Timeout.total"):
        async with client.chat.completions.stream(
            messages=HI, timeout=Timeout(read=None, total=0.3)
        ) as stream:
            await stream.get_final_completion()


async def test_a_200_html_page_is_reported_as_such(client, fake):
    fake.fail_next(200, body="<html>Sign in to the Wi-Fi</html>", content_type="text/html")
    with pytest.raises(
        StreamError, match=r"answered 200 with text/html.* instead of an event stream"
    ) as info:
        async with client.chat.completions.stream(messages=HI):
            pass
    assert info.value.body == "<html>Sign in to the Wi-Fi</html>"
    assert info.value.partial_completion is None
    assert acquired(client) == 0


async def test_a_200_json_completion_instead_of_a_stream_is_kept(client, fake):
    fake.reply("not streamed")
    whole = await client.chat.completions.create(messages=HI)
    fake.fail_next(
        200, body={"id": whole.id, "choices": [{"message": {"role": "assistant", "content": "x"}}]}
    )
    with pytest.raises(
        StreamError, match="a whole JSON completion instead of an event stream"
    ) as info:
        async with client.chat.completions.stream(messages=HI):
            pass
    assert partial_text(info.value) == "x"


async def test_a_200_json_error_instead_of_a_stream(client, fake):
    fake.fail_next(200, body={"error": {"message": "quota exceeded", "status": 402}})
    with pytest.raises(APIError, match="quota exceeded") as info:
        async with client.chat.completions.stream(messages=HI):
            pass
    assert info.value.partial_completion is None


# ------------------------------------------------------------------ retries, closing, cancelling


async def test_retried_before_the_response_starts(client, fake, retries):
    fake.fail_next(503, retry_after=1)
    async with client.chat.completions.stream(messages=HI) as stream:
        await stream.get_final_completion()
    assert retries.delays == [1.0]
    assert len(fake.requests) == 2


async def test_an_error_status_before_the_stream(client, fake):
    fake.fail_next(500)
    stream = client.chat.completions.stream(messages=HI)
    with pytest.raises(InternalServerError):
        async with stream:
            pass
    assert len(fake.requests) == 1


async def test_arguments_are_checked_when_the_stream_is_made(client, fake):
    with pytest.raises(ValueError, match="messages is empty"):
        client.chat.completions.stream(messages=[])
    with pytest.raises(ValueError, match="control characters"):
        client.chat.completions.stream(messages=HI, session_id="a\nb")
    assert fake.requests == []


async def test_breaking_out_closes_the_response(client, fake):
    fake.reply("one two three four five six")
    fake.stall_stream_next(after=2)  # so the rest has not arrived when we leave
    async with client.chat.completions.stream(messages=HI) as stream:
        async for _ in stream:
            break
        # Left early: the response is closed now, not at the end of the block.
        assert await until(lambda: acquired(client) == 0)
    with pytest.raises(StreamError, match="closed before it ended") as info:
        await stream.get_final_completion()
    assert info.value.partial_completion is not None


async def test_breaking_out_without_async_with(client, fake):
    fake.reply("one two three four five six")
    async for _ in client.chat.completions.stream(messages=HI):
        break
    assert await until(lambda: acquired(client) == 0)


async def test_an_exception_in_the_consumer_closes_the_response(client, fake):
    fake.reply("one two three four five six")

    async def consume():
        async with client.chat.completions.stream(messages=HI) as stream:
            async for _ in stream:
                raise KeyError("consumer bug")

    with pytest.raises(KeyError):
        await consume()
    assert acquired(client) == 0


async def test_cancelling_the_task_closes_the_response(client, fake):
    fake.stall_stream_next(after=2)
    started = asyncio.Event()

    async def consume():
        async with client.chat.completions.stream(messages=HI) as stream:
            async for _ in stream:
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    assert acquired(client) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert acquired(client) == 0


async def test_a_closed_stream_cannot_start(client, fake):
    stream = client.chat.completions.stream(messages=HI)
    await stream.aclose()
    with pytest.raises(RuntimeError, match="this stream is closed"):
        async with stream:
            pass
    assert fake.requests == []


async def until(condition, *, turns=50):
    """Yield to the loop until `condition()` holds (the async-generator finaliser is a task)."""
    for _ in range(turns):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


def test_the_stream_class_is_exported_for_annotations(client):
    assert pathors_async.ChatCompletionStream is ChatCompletionStream
    assert isinstance(client.chat.completions.stream(messages=HI), ChatCompletionStream)


# ------------------------------------------------------------------ from plain byte lists


def sse(*payloads):
    return [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n".encode() for p in payloads]


def delta(content, finish_reason=None, **extra):
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish_reason}
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [choice], **extra}


async def test_a_stream_of_plain_bytes():
    stream = from_bytes([*sse(delta("a"), delta("b", "stop")), b"data:  [DONE]\t\n\n"])
    assert [c.choices[0].delta.content async for c in stream] == ["a", "b"]
    assert (await stream.get_final_completion()).choices[0].message.content == "ab"


@pytest.mark.parametrize("size", [1, 7, 64])
async def test_any_split_of_the_bytes_gives_the_same_completion(size):
    body = b"".join(sse(delta("hello "), delta("world", "stop"), "[DONE]"))
    stream = from_bytes([body[i : i + size] for i in range(0, len(body), size)])
    assert (await stream.get_final_completion()).choices[0].message.content == "hello world"


async def test_the_session_id_sent_is_kept_when_the_server_names_none():
    final = await from_bytes(
        sse(delta("x", "stop"), "[DONE]"), session_id="s"
    ).get_final_completion()
    assert final.session_id == "s"


async def test_a_session_id_in_a_chunk_that_cannot_go_back_is_an_error():
    stream = from_bytes(sse(delta("x"), delta("y", session_id="a\r\nb"), "[DONE]"))
    with pytest.raises(APIError, match="session id") as info:
        await stream.get_final_completion()
    assert info.value.partial_completion is not None


async def test_a_line_past_its_bound_names_the_bound_and_keeps_what_arrived():
    limits = ResponseLimits(max_line_bytes=300)
    stream = from_bytes([*sse(delta("kept")), b"data: " + b"x" * 400], limits=limits)
    with pytest.raises(StreamError, match=r"ResponseLimits\.max_line_bytes \(300 bytes\)") as info:
        await stream.get_final_completion()
    assert "ResponseLimits(max_line_bytes=1200)" in str(info.value)
    assert partial_text(info.value) == "kept"


async def test_not_an_event_stream_from_bytes():
    stream = from_bytes([b'{"detail": "Not authenticated"}'], content_type="application/json")
    with pytest.raises(APIError, match="Not authenticated"):
        await stream.get_final_completion()
