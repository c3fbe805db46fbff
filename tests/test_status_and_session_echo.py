"""Unknown statuses are not server failures; a server echoing the key as a session id is refused."""

import json
import traceback

import pytest

from pathors_async import (
    APIError,
    APIStatusError,
    AsyncPathors,
    InternalServerError,
    RetryPolicy,
)
from pathors_async._errors import status_error_class
from pathors_async._redact import Redactor

from .rawserver import RawServer, replying, response

KEY = "sk_SECRETKEY123456"
URL = "http://127.0.0.1:1/v1/projects/p/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]
MESSAGE = {"role": "assistant", "content": "x"}


def completion_body(**extra):
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": MESSAGE, "finish_reason": "stop"}],
            **extra,
        }
    ).encode()


@pytest.mark.parametrize("status", [999, 600, 1000, 399])
def test_a_status_outside_400_599_is_a_plain_status_error(status):
    assert status_error_class(status) is APIStatusError


@pytest.mark.parametrize("status", [500, 599])
def test_5xx_is_still_an_internal_server_error(status):
    assert status_error_class(status) is InternalServerError


async def test_status_999_from_a_server_names_the_status_and_is_not_a_server_failure():
    body = json.dumps({"error": "x"}).encode()
    async with RawServer(replying(response(999, body))) as server:
        client = AsyncPathors(
            api_key=KEY, project_id="p", base_url=server.url, retry=RetryPolicy(max_retries=0)
        )
        async with client:
            with pytest.raises(APIStatusError) as info:
                await client.chat.completions.create(messages=MESSAGES)
    error = info.value
    assert type(error) is APIStatusError
    assert error.status_code == 999
    assert "999" in str(error)
    assert "unexpected HTTP status 999" in str(error)
    assert "the service failed" not in str(error)


@pytest.mark.parametrize("value", [KEY, "Bearer " + KEY, "s-" + KEY])
def test_a_received_session_id_holding_the_key_is_refused_and_redacted(value):
    with pytest.raises(APIError, match="API key as the session id") as info:
        Redactor(KEY).received_session_id(value, url=URL)
    assert KEY not in "".join(traceback.format_exception(info.value))


def test_a_received_session_id_without_the_key_passes():
    assert Redactor(KEY).received_session_id("s-1", url=URL) == "s-1"


@pytest.mark.parametrize("where", ["header", "body"])
async def test_a_server_sending_the_key_as_session_id_is_refused(where):
    headers = {"Content-Type": "application/json"}
    if where == "header":
        headers["X-Session-ID"] = KEY
        body = completion_body()
    else:
        body = completion_body(session_id=KEY)
    async with RawServer(replying(response(200, body, headers))) as server:
        client = AsyncPathors(api_key=KEY, project_id="p", base_url=server.url)
        async with client:
            with pytest.raises(APIError, match="API key as the session id") as info:
                await client.chat.completions.create(messages=MESSAGES)
    assert KEY not in "".join(traceback.format_exception(info.value))
