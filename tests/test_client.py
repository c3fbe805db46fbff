"""The client against the real loopback emulator: presets, sessions, errors, retries, timeouts."""

import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from pathors_async import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncPathors,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    ConflictError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    Timeout,
)
from pathors_async._client import USER_AGENT

from .conftest import KEY

HI = [{"role": "user", "content": "Hi"}]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ construction


def test_missing_key_names_the_argument_and_the_variable():
    with pytest.raises(ValueError, match=r"no API key: pass api_key=\.\.\. or set PATHORS_API_KEY"):
        AsyncPathors(project_id="p")


def test_missing_project_names_the_argument_and_the_variable():
    with pytest.raises(ValueError, match=r"pass project_id=\.\.\. or set PATHORS_PROJECT_ID"):
        AsyncPathors(api_key=KEY)


def test_configuration_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PATHORS_API_KEY", KEY)
    monkeypatch.setenv("PATHORS_PROJECT_ID", "proj")
    monkeypatch.setenv("PATHORS_BASE_URL", "http://127.0.0.1:1/prefix/")
    client = AsyncPathors()
    assert client.project_id == "proj"
    assert client.base_url == "http://127.0.0.1:1/prefix"
    assert (
        client.chat_completions_url == "http://127.0.0.1:1/prefix/v1/projects/proj/chat/completions"
    )


def test_default_host_is_the_service(monkeypatch):
    monkeypatch.delenv("PATHORS_BASE_URL")
    assert AsyncPathors(api_key=KEY, project_id="p").base_url == "https://api.pathors.com"


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"max_connections": 0}, ValueError, "max_connections must be 1 or more, got 0"),
        ({"max_connections": "10"}, TypeError, "max_connections must be an int"),
        ({"retry": {"max_retries": 1}}, TypeError, "retry must be a RetryPolicy, not dict"),
        ({"timeout": -1}, ValueError, "Timeout.total must be more than zero seconds"),
    ],
)
def test_bad_options_fail_at_construction(kwargs, error, text):
    with pytest.raises(error, match=text):
        AsyncPathors(api_key=KEY, project_id="p", **kwargs)


def test_a_number_as_timeout_sets_the_total():
    client = AsyncPathors(api_key=KEY, project_id="p", timeout=30)
    assert client.timeout == Timeout(connect=10, read=120, total=30)


# ------------------------------------------------------------------ chat


@pytest.mark.parametrize(
    ("api", "path"),
    [
        ("v1", "/v1/projects/test-project/chat/completions"),
        ("legacy", "/api/project/test-project/integration/api/chat/completions"),
    ],
)
async def test_a_chat_completes_on_both_presets(fake, api, path):
    client = fake.client(api=api)
    fake.reply("Hello there")
    completion = await client.chat.completions.create(messages=HI)
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens is None  # the service's -1
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", path)
    assert request.body == {"messages": HI, "stream": False}


async def test_the_session_id_is_carried_across_two_turns(client, fake):
    first = await client.chat.completions.create(messages=HI)
    assert first.session_id
    answer = first.choices[0].message
    second = await client.chat.completions.create(
        messages=[*HI, answer, {"role": "user", "content": "again"}],
        session_id=first.session_id,
    )
    assert second.session_id == first.session_id
    assert [r.session_id for r in fake.requests] == [None, first.session_id]
    assert "session_id" not in fake.requests[1].body  # the deprecated body field is never used
    # The whole transcript was sent: the emulator's history is that plus the new answer.
    assert len(fake.sessions[first.session_id].messages) == 4
    assert len(fake.sessions) == 1


async def test_request_headers(client, fake):
    await client.chat.completions.create(
        messages=HI, extra_headers={"X-Trace": "t1"}, extra_body={"model": "m", "temperature": 0}
    )
    [request] = fake.requests
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("pathors-async/")
    assert " Python/3." in USER_AGENT
    assert " aiohttp/" in USER_AGENT
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-Trace"] == "t1"
    assert request.body["model"] == "m"
    assert request.body["temperature"] == 0


async def test_default_headers_go_on_every_request(fake, retries):
    client = fake.client(default_headers={"X-App": "demo"})
    await client.chat.completions.create(messages=HI)
    assert fake.requests[0].headers["X-App"] == "demo"


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "a\nb", "nul\x00", "tab\tid", " padded", ""])
async def test_session_ids_that_cannot_be_a_header_are_refused_before_sending(client, fake, bad):
    with pytest.raises(ValueError, match="session_id"):
        await client.chat.completions.create(messages=HI, session_id=bad)
    assert fake.requests == []


async def test_session_id_must_be_a_string(client):
    with pytest.raises(TypeError, match="session_id must be a string, not int"):
        await client.chat.completions.create(messages=HI, session_id=5)  # type: ignore[arg-type]


async def test_invalid_messages_fail_before_sending(client, fake):
    with pytest.raises(ValueError, match=r"messages\[0\]: a 'tool' message needs tool_call_id"):
        await client.chat.completions.create(messages=[{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError, match="messages is empty"):
        await client.chat.completions.create(messages=[])
    assert fake.requests == []


async def test_any_openai_compatible_server_via_chat_completions_url(retries):
    seen = []

    async def handler(request):
        seen.append(await request.json())
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "other",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AsyncPathors(
            api_key=KEY, chat_completions_url=f"http://127.0.0.1:{port}/v1/chat/completions"
        ) as client:
            completion = await client.chat.completions.create(
                messages=HI, extra_body={"model": "other"}
            )
    finally:
        await runner.cleanup()
    assert completion.choices[0].message.content == "ok"
    assert completion.session_id is None
    assert completion.usage is None
    assert seen == [{"messages": HI, "stream": False, "model": "other"}]


# ------------------------------------------------------------------ errors


async def test_wrong_key_is_an_authentication_error(fake, retries):
    client = fake.client(api_key="sk_wrong")
    with pytest.raises(AuthenticationError) as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.status_code == 401
    assert "Invalid authentication" in str(info.value)
    assert "check the API key (api_key= or PATHORS_API_KEY)" in str(info.value)


async def test_unknown_project_is_not_found(fake, retries):
    client = fake.client(project_id="nope")
    with pytest.raises(NotFoundError, match="Project not found"):
        await client.chat.completions.create(messages=HI)


async def test_invalid_body_is_a_bad_request_with_details(client):
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(messages=HI, extra_body={"stream": "yes"})
    assert info.value.details == {"field": "stream"}
    assert "'stream' must be a boolean" in str(info.value)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (409, ConflictError),
        (418, APIStatusError),
        (429, RateLimitError),
        (500, InternalServerError),
        (501, InternalServerError),
    ],
)
async def test_injected_statuses_map_to_their_class(client, fake, status, cls):
    fake.fail_next(status, times=3, message=f"emulated {status}")
    with pytest.raises(cls) as info:
        await client.chat.completions.create(messages=HI, session_id="sess-1")
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.session_id == "sess-1"
    assert f"emulated {status}" in str(info.value)


async def test_string_error_bodies(client, fake):
    fake.fail_next(402, body={"error": "Out of credits"})
    with pytest.raises(InsufficientCreditsError, match="Out of credits"):
        await client.chat.completions.create(messages=HI)


async def test_a_non_json_error_body_from_a_proxy(client, fake):
    page = "<html><body>502 Bad Gateway</body></html>"
    fake.fail_next(502, times=3, body=page, content_type="text/html")
    with pytest.raises(InternalServerError) as info:
        await client.chat.completions.create(messages=HI)
    error = info.value
    assert error.status_code == 502
    assert error.body == page
    assert error.headers["Content-Type"].startswith("text/html")
    assert "the body was not a JSON error (text/html" in str(error)


async def test_an_empty_error_body(client, fake):
    fake.fail_next(403, body=b"", content_type="text/plain")
    with pytest.raises(PermissionDeniedError, match="empty response body"):
        await client.chat.completions.create(messages=HI)


async def test_a_200_that_is_not_json(client, fake):
    fake.fail_next(200, body="<html>captive portal</html>", content_type="text/html")
    with pytest.raises(APIError, match=r"200 from POST .* was not JSON \(text/html") as info:
        await client.chat.completions.create(messages=HI)
    assert info.value.body == "<html>captive portal</html>"


async def test_a_200_that_is_not_a_completion(client, fake):
    fake.fail_next(200, body={"choices": "nope"})
    with pytest.raises(APIError, match="is not a chat completion"):
        await client.chat.completions.create(messages=HI)


# ------------------------------------------------------------------ retries


async def test_503_with_retry_after_is_retried_after_the_asked_wait(client, fake, retries):
    fake.fail_next(503, retry_after=2)
    completion = await client.chat.completions.create(messages=HI)
    assert completion.choices[0].message.content
    assert retries.delays == [2.0]
    assert len(fake.requests) == 2


async def test_retry_after_ms_is_honoured(client, fake, retries):
    fake.fail_next(429, headers={"retry-after-ms": "1500"})
    await client.chat.completions.create(messages=HI)
    assert retries.delays == [1.5]


async def test_500_is_not_retried_by_default(client, fake, retries):
    fake.fail_next(500)
    with pytest.raises(InternalServerError):
        await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 1
    assert retries.delays == []


async def test_500_is_retried_when_the_policy_says_so(fake, retries):
    client = fake.client(retry=RetryPolicy(retry_statuses={500}))
    fake.fail_next(500)
    await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 2


async def test_retries_run_out_with_the_last_error(client, fake, retries):
    fake.fail_next(429, times=3)
    with pytest.raises(RateLimitError):
        await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 3
    assert len(retries.delays) == 2
    assert retries.delays[1] > retries.delays[0] * 1.2  # exponential, jitter at most 25%


async def test_no_retry_when_the_wait_would_pass_the_total_timeout(fake, retries):
    client = fake.client(timeout=5)
    fake.fail_next(503, retry_after=30)
    with pytest.raises(InternalServerError):
        await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 1


async def test_a_dropped_connection_is_not_retried_by_default(client, fake, retries):
    fake.drop_next()
    with pytest.raises(APIConnectionError, match="the connection broke during POST") as info:
        await client.chat.completions.create(messages=HI)
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    assert len(fake.requests) == 1


async def test_a_dropped_connection_is_retried_on_opt_in(fake, retries):
    client = fake.client(retry=RetryPolicy(retry_on_disconnect=True))
    fake.drop_next()
    await client.chat.completions.create(messages=HI)
    assert len(fake.requests) == 2


async def test_a_refused_connection_was_never_sent_and_is_retried(retries):
    async with AsyncPathors(
        api_key=KEY, project_id="p", base_url=f"http://127.0.0.1:{free_port()}"
    ) as client:
        with pytest.raises(APIConnectionError, match="could not connect for POST") as info:
            await client.chat.completions.create(messages=HI)
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
    assert len(retries.delays) == 2


# ------------------------------------------------------------------ timeouts


async def test_a_stalled_server_raises_a_timeout_error(fake, retries):
    client = fake.client(timeout=Timeout(read=0.2))
    fake.stall_next()
    with pytest.raises(APITimeoutError) as info:
        await client.chat.completions.create(messages=HI)
    assert isinstance(info.value, TimeoutError)
    assert "no data from the server for 0.2 s (Timeout.read)" in str(info.value)
    assert len(fake.requests) == 1  # sent, maybe running: not retried


async def test_the_total_timeout_bounds_the_call(fake, retries):
    client = fake.client(timeout=Timeout(read=None, total=0.2))
    fake.stall_next()
    with pytest.raises(APITimeoutError, match=r"longer than 0.2 s \(Timeout.total\)"):
        await client.chat.completions.create(messages=HI)


async def test_a_per_call_timeout_overrides_the_client(client, fake):
    fake.stall_next()
    with pytest.raises(APITimeoutError, match=r"Timeout\.read"):
        await client.chat.completions.create(messages=HI, timeout=Timeout(read=0.2))


async def test_a_slow_answer_within_the_limits_is_fine(client, fake):
    fake.delay_next(0.05)
    assert (await client.chat.completions.create(messages=HI, timeout=5)).choices


# ------------------------------------------------------------------ life cycle


async def test_aclose_is_idempotent_and_use_after_close_is_clear(fake):
    client = fake.client()
    await client.chat.completions.create(messages=HI)
    await client.aclose()
    await client.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match="this AsyncPathors client is closed; create a new one"):
        await client.chat.completions.create(messages=HI)


async def test_async_with_closes_the_pool(fake):
    async with fake.client() as client:
        await client.chat.completions.create(messages=HI)
        session = client._transport.http_session
    assert session is not None
    assert session.closed


async def test_a_given_http_session_is_used_and_never_closed(fake):
    async with aiohttp.ClientSession() as session:
        async with fake.client(http_session=session) as client:
            await client.chat.completions.create(messages=HI)
        assert not session.closed
        assert client._transport.http_session is session
    with pytest.raises(RuntimeError, match="passed as http_session is closed"):
        await fake.client(http_session=session).chat.completions.create(messages=HI)


async def test_the_pool_honours_max_connections(fake):
    async with fake.client(max_connections=3) as client:
        await client.chat.completions.create(messages=HI)
        assert client._transport.http_session is not None
        assert client._transport.http_session.connector is not None
        assert client._transport.http_session.connector.limit == 3


async def test_deprecation_headers_are_logged_once(fake, caplog):
    client = fake.client(api="legacy")
    with caplog.at_level(logging.WARNING, logger="pathors_async"):
        await client.chat.completions.create(messages=HI)
        await client.chat.completions.create(messages=HI)
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1
    assert "Sunset: Thu, 31 Dec 2026" in warnings[0].getMessage()
    assert "switch to api='v1'" in warnings[0].getMessage()


# ------------------------------------------------------------------ the key stays secret


async def test_the_key_never_appears_in_reprs_errors_or_logs(fake, caplog, retries):
    caplog.set_level(logging.DEBUG)
    client = fake.client(retry=RetryPolicy(max_retries=1))
    texts = [repr(client), str(client), repr(client.timeout), repr(client.retry)]
    fake.fail_next(401, body={"error": f"key {KEY} rejected"})
    fake.fail_next(503, message=f"upstream saw Bearer {KEY}", times=2)
    fake.drop_next()
    fake.stall_next()
    errors = []
    for call_timeout in (None, None, None, Timeout(read=0.1)):
        with pytest.raises(APIError) as info:
            await client.chat.completions.create(messages=HI, timeout=call_timeout)
        errors.append(info.value)
    for error in errors:
        texts += [str(error), repr(error), str(error.body), repr(error.__cause__)]
        texts += [f"{k}: {v}" for k, v in getattr(error, "headers", {}).items()]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(request) for request in fake.requests]
    assert [type(e).__name__ for e in errors] == [
        "AuthenticationError",
        "InternalServerError",
        "APIConnectionError",
        "APITimeoutError",
    ]
    assert any("[redacted]" in text for text in texts)
    leaks = [text for text in texts if KEY in text]
    assert leaks == []


async def test_extra_headers_replace_the_clients_own_whatever_their_case(fake, retries):
    """The client's headers are the aiohttp session's defaults; a request's own win over them."""
    client = fake.client(default_headers={"X-App": "demo"})
    await client.chat.completions.create(
        messages=HI, extra_headers={"x-app": "other", "accept": "text/plain"}, session_id="s-1"
    )
    await client.chat.completions.create(messages=HI)
    first, second = fake.requests

    def sent(request, name):
        return [value for key, value in request.headers.items() if key.lower() == name]

    assert sent(first, "x-app") == ["other"]
    assert sent(first, "accept") == ["text/plain"]
    assert sent(first, "x-session-id") == ["s-1"]
    assert sent(second, "x-app") == ["demo"]
    assert sent(second, "accept") == ["application/json"]
    assert sent(second, "x-session-id") == []
    assert sent(second, "authorization") == sent(first, "authorization") == [f"Bearer {KEY}"]
