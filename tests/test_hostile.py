"""What a hostile or merely unusual server sends never crashes, leaks or poisons the client."""

import asyncio
import json
import logging

import pytest

from pathors_async import (
    APIError,
    APIStatusError,
    AsyncPathors,
    InternalServerError,
    StreamError,
)
from pathors_async.testing import FakePathors

from .conftest import KEY
from .rawserver import RawServer, replying, response

HI = [{"role": "user", "content": "Hi"}]
DEEP = "[" * 100_000 + "]" * 100_000
#: The key with its first letter JSON-escaped: the raw text does not hold it, the JSON does.
ESCAPED_KEY = "\\u" + format(ord(KEY[0]), "04x") + KEY[1:]


def completion_body(**extra):
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        **extra,
    }


async def one_turn(client, *, streamed, session_id=None):
    if not streamed:
        return await client.chat.completions.create(messages=HI, session_id=session_id)
    async with client.chat.completions.stream(messages=HI, session_id=session_id) as stream:
        return await stream.get_final_completion()


# ------------------------------------------------------------------ the key never leaks


async def test_a_malformed_chunk_echoing_the_key_is_redacted(client, fake):
    fake.corrupt_stream_next(after=1, line=f'data: {{"echo": "Bearer {KEY}", oops}}')
    with pytest.raises(StreamError) as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert KEY not in str(info.value)
    assert KEY not in (info.value.body or "")
    assert "[redacted]" in (info.value.body or "")


async def test_a_json_escaped_key_in_error_details_is_redacted(client, fake):
    body = '{"error": {"message": "bad key", "details": {"auth": "Bearer ' + ESCAPED_KEY + '"}}}'
    fake.fail_next(400, body=body)
    with pytest.raises(APIStatusError) as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.details == {"auth": "Bearer [redacted]"}
    assert KEY not in json.dumps(info.value.details)
    assert KEY not in (info.value.body or "")
    assert "\\u" not in (info.value.body or "")  # the escaped form is not kept either


async def test_a_response_header_echoing_the_key_is_redacted(client, fake):
    fake.fail_next(401, headers={"X-Echo": f"Bearer {KEY}"})
    with pytest.raises(APIStatusError) as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.headers["X-Echo"] == "Bearer [redacted]"
    assert all(KEY not in value for value in info.value.headers.values())


# ------------------------------------------------------------------ a 200 that is not a completion


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "is not a chat completion"),
        ({"error": {"message": "quota exceeded"}}, "quota exceeded"),
        ({"detail": "Not authenticated"}, "Not authenticated"),
    ],
)
async def test_a_200_that_is_not_a_completion_is_an_error_on_create(client, fake, body, text):
    fake.fail_next(200, body=body)
    with pytest.raises(APIError, match=text):
        await client.chat.completions.create(messages=HI)


async def test_a_200_error_with_a_status_maps_to_its_class_on_create(client, fake):
    fake.fail_next(200, body={"error": {"message": "boom", "code": "500"}})
    with pytest.raises(InternalServerError, match="boom") as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.status_code == 500


# ------------------------------------------------------------------ stream details


async def test_done_with_surrounding_whitespace_ends_the_stream(client, fake):
    fake.corrupt_stream_next(after=2, line="data:  [DONE] ")
    async with client.chat.completions.stream(messages=HI) as stream:
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == 2


async def test_an_in_band_error_code_as_a_string_maps_like_the_int(client, fake):
    fake.corrupt_stream_next(after=1, line='data: {"error": {"message": "down", "code": "500"}}')
    with pytest.raises(InternalServerError, match="down") as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert info.value.status_code == 500
    assert info.value.partial_completion is not None


# ------------------------------------------------------------------ deep JSON


async def test_deep_json_in_a_200_body_is_an_api_error(client, fake):
    fake.fail_next(200, body=DEEP)
    with pytest.raises(APIError, match="nested too deep"):
        await client.chat.completions.create(messages=HI)


async def test_deep_json_in_an_error_body_is_still_the_status_error(client, fake):
    fake.fail_next(400, body=DEEP)
    with pytest.raises(APIStatusError) as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.status_code == 400
    assert info.value.details is None


async def test_deep_json_in_a_chunk_is_a_stream_error(client, fake):
    fake.corrupt_stream_next(after=1, line="data: " + DEEP)
    with pytest.raises(StreamError, match="nested too deep") as info:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    assert info.value.partial_completion is not None


async def test_deep_json_in_an_in_band_error_is_a_stream_error(client, fake):
    fake.corrupt_stream_next(after=1, line='data: {"error": ' + DEEP + "}")
    with pytest.raises(StreamError):
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()


# ------------------------------------------------------------------ retries


async def test_a_far_future_retry_after_date_is_capped(client, fake, retries):
    fake.fail_next(503, retry_after="Mon, 01 Jan 99999999999 00:00:00 GMT")
    await client.chat.completions.create(messages=HI)
    assert retries.delays == [60.0]
    assert len(fake.requests) == 2


async def test_529_is_retried_like_503(client, fake, retries):
    fake.fail_next(529)
    await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 2


# ------------------------------------------------------------------ session ids


async def test_create_keeps_the_session_id_sent_when_the_server_does_not_echo_it(client, fake):
    fake.fail_next(200, body=completion_body())
    completion = await client.chat.completions.create(messages=HI, session_id="s")
    assert completion.session_id == "s"


@pytest.mark.parametrize(
    "raw_head",
    [b"X-Session-ID: abc\xff\xfe", b"X-Session-ID: a\x01b"],
    ids=["invalid-utf8", "control"],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_session_id_header_that_cannot_be_sent_back_is_refused(raw_head, streamed):
    body = json.dumps(completion_body()).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: " + str(len(body)).encode() + b"\r\n" + raw_head + b"\r\n\r\n"
    async with (
        RawServer(replying(head + body)) as server,
        AsyncPathors(api_key=KEY, project_id="p", base_url=server.url) as client,
    ):
        with pytest.raises(APIError, match="session id"):
            await one_turn(client, streamed=streamed)


@pytest.mark.parametrize("session_id", ["a\r\nb", "\udcff", "a\x00"])
async def test_a_session_id_in_the_body_that_cannot_be_sent_back_is_refused(session_id):
    body = json.dumps(completion_body(session_id=session_id)).encode()
    reply = response(200, body, {"Content-Type": "application/json"})
    async with (
        RawServer(replying(reply)) as server,
        AsyncPathors(api_key=KEY, project_id="p", base_url=server.url) as client,
    ):
        with pytest.raises(APIError, match="session id"):
            await client.chat.completions.create(messages=HI)


# ------------------------------------------------------------------ paths and URLs


@pytest.mark.parametrize("bad", [".", "..", "a/b", "/"])
async def test_session_ids_that_are_not_one_path_segment_are_refused(client, fake, bad):
    with pytest.raises(ValueError, match="path segment"):
        await client.sessions.get(bad)
    assert fake.requests == []


@pytest.mark.parametrize("bad", [".", "..", "a/b", ""])
def test_project_ids_that_are_not_one_path_segment_are_refused(bad):
    with pytest.raises(ValueError, match="project_id"):
        AsyncPathors(api_key=KEY, project_id=bad)


async def test_other_characters_in_ids_are_percent_encoded(client, fake):
    await client.sessions.create("a b?c#d%")
    await client.sessions.get("a b?c#d%")
    assert fake.requests[-1].path == "/v1/projects/test-project/sessions/a b?c#d%"


def test_base_url_with_credentials_is_refused_without_showing_them():
    with pytest.raises(ValueError, match="credentials") as info:
        AsyncPathors(api_key=KEY, project_id="p", base_url="http://user:hunter2@127.0.0.1:1")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "bad", ["http://127.0.0.1:1\r\nX-Evil: 1", "http://127.0.0.1:1/a b", "http://", "ftp://h"]
)
def test_malformed_base_urls_are_refused(bad):
    with pytest.raises(ValueError, match="base_url"):
        AsyncPathors(api_key=KEY, project_id="p", base_url=bad)


def test_the_scheme_is_case_insensitive():
    client = AsyncPathors(api_key=KEY, project_id="p", base_url="HTTP://127.0.0.1:1/")
    assert client.base_url == "http://127.0.0.1:1"


def test_plain_http_to_a_remote_host_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="pathors_async"):
        for _ in range(2):
            AsyncPathors(api_key=KEY, project_id="p", base_url="http://pathors.invalid:8080")
        AsyncPathors(api_key=KEY, project_id="p", base_url="http://localhost:1")
        AsyncPathors(api_key=KEY, project_id="p", base_url="http://[::1]:1")
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1
    assert "pathors.invalid" in warnings[0]


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_redirect_to_a_post_is_never_followed(client, fake, streamed):
    async with RawServer(replying(response(200, b"{}"))) as elsewhere:
        fake.fail_next(307, headers={"Location": elsewhere.url + "/steal"}, body=b"")
        with pytest.raises(APIError, match="Location") as info:
            await one_turn(client, streamed=streamed, session_id="s")
        assert elsewhere.url in str(info.value)
        assert elsewhere.requests == []
    assert len(fake.requests) == 1


# ------------------------------------------------------------------ event loops


def test_a_client_used_from_a_second_event_loop_is_refused():
    fake = FakePathors(api_keys=(KEY,))
    first_loop = asyncio.new_event_loop()
    try:
        first_loop.run_until_complete(fake.start())
        client = AsyncPathors(api_key=KEY, project_id=fake.project_id, base_url=fake.url)
        first_loop.run_until_complete(client.chat.completions.create(messages=HI))
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(client.chat.completions.create(messages=HI))
        first_loop.run_until_complete(client.aclose())
        first_loop.run_until_complete(fake.close())
    finally:
        first_loop.close()
