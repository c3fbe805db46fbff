"""The key never leaks: every echo case, with DEBUG logging on, swept for the key in any form.

The fault-matrix sweep (issue 8, item 5) widens this to every case; this is its first part:
the cases where a server echoes the key back.
"""

import json
import logging
import traceback

import pytest

from pathors_async import APIError, APIStatusError, AsyncPathors, RetryPolicy

from .conftest import KEY
from .rawserver import RawServer, replying, response

HI = [{"role": "user", "content": "Hi"}]
ESCAPED_KEY = "\\u" + format(ord(KEY[0]), "04x") + KEY[1:]
FORMS = (KEY, ESCAPED_KEY, json.dumps(KEY)[1:-1])


def texts_of(error: BaseException) -> list[str]:
    """Everything a user, a log or an error tracker could show of `error`."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, APIError):
        texts += [str(error.body), repr(error.partial_completion)]
    if isinstance(error, APIStatusError):
        texts += [json.dumps(error.details), str(error.session_id)]
        texts += [f"{name}: {value}" for name, value in error.headers.items()]
    return texts


async def turn(client, *, streamed: bool) -> None:
    if streamed:
        async with client.chat.completions.stream(messages=HI) as stream:
            await stream.get_final_completion()
    else:
        await client.chat.completions.create(messages=HI)


ECHOES = {
    "malformed chunk": (True, lambda f: f.corrupt_stream_next(line=f"data: {{{KEY}")),
    "error event": (True, lambda f: f.error_in_stream_next(message=f"Bearer {KEY}", status=401)),
    "in-band error code as text": (
        True,
        lambda f: f.corrupt_stream_next(
            line=f'data: {{"error": {{"message": "{KEY}", "code": "500"}}}}'
        ),
    ),
    "escaped key in details": (
        False,
        lambda f: f.fail_next(
            400, body='{"error": {"message": "m", "details": {"k": "' + ESCAPED_KEY + '"}}}'
        ),
    ),
    "escaped key in a 200 error": (
        False,
        lambda f: f.fail_next(200, body='{"error": {"message": "' + ESCAPED_KEY + '"}}'),
    ),
    "key in a header": (False, lambda f: f.fail_next(401, headers={"X-Echo": f"Bearer {KEY}"})),
    "key in a 200 that is not JSON": (
        False,
        lambda f: f.fail_next(200, body=f"<html>{KEY}</html>", content_type="text/html"),
    ),
    "key in a stream that is not a stream": (
        True,
        lambda f: f.fail_next(200, body=f"<html>{KEY}</html>", content_type="text/html"),
    ),
    "key in a redirect": (
        False,
        lambda f: f.fail_next(307, headers={"Location": f"http://127.0.0.1:9/?key={KEY}"}),
    ),
    "key in a 503 retried, then a 401": (
        False,
        lambda f: (
            f.fail_next(503, message=f"upstream saw {KEY}", headers={"X-Echo": KEY}),
            f.fail_next(401, body={"error": f"key {KEY} rejected"}),
        ),
    ),
}


@pytest.mark.parametrize("case", list(ECHOES))
async def test_an_echoed_key_appears_nowhere(fake, retries, caplog, case):
    caplog.set_level(logging.DEBUG)
    for name in ("pathors_async", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    streamed, arrange = ECHOES[case]
    arrange(fake)
    client = fake.client(retry=RetryPolicy(max_retries=1))
    with pytest.raises(APIError) as info:
        await turn(client, streamed=streamed)
    texts = texts_of(info.value)
    if info.value.__cause__ is not None:
        texts += texts_of(info.value.__cause__)
    texts += [repr(client), str(client)]
    for record in caplog.records:
        texts += [record.getMessage(), logging.Formatter().format(record)]
    leaks = [text for text in texts for form in FORMS if form in text]
    assert leaks == []
    assert any("[redacted]" in text for text in texts)


async def test_an_echoed_key_in_a_stalled_error_body_appears_nowhere(caplog):
    caplog.set_level(logging.DEBUG)
    reply = response(503, f'{{"error": "{KEY}"}}'.encode() + b" " * 10)[:-5]  # 5 bytes short

    async with RawServer(replying(reply)) as server:
        client = AsyncPathors(
            api_key=KEY, project_id="p", base_url=server.url, retry=RetryPolicy(max_retries=0)
        )
        async with client:
            with pytest.raises(APIError) as info:
                await client.chat.completions.create(messages=HI)
    texts = texts_of(info.value) + [r.getMessage() for r in caplog.records]
    assert [text for text in texts for form in FORMS if form in text] == []
    assert "[redacted]" in (info.value.body or "")
