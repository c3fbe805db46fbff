"""The matrix's rows about the client rather than one answer: paths, URLs, event loops, sessions.

Each asserts the exact error class, how many requests a server saw, and (DEBUG logging on)
that the key shows nowhere.
"""

import asyncio
from urllib.parse import quote

import pytest

from pathors_async import APIError, AsyncPathors, NotFoundError
from pathors_async.testing import FakePathors

from .conftest import FAULT_KEY, Emulated, always, serving, whole
from .ops import OPS, run
from .secrets import leaks, texts_of_error


@pytest.mark.parametrize("bad", [".", "..", "a/b", "/", ""])
async def test_session_ids_that_are_not_one_path_segment(bad, captured):
    async with serving("fake") as server, server.client() as client:
        with pytest.raises(ValueError, match="session_id") as info:
            await client.sessions.get(bad)
    assert server.seen == 0
    assert leaks([*texts_of_error(info.value), *captured.texts]) == []


CONFIGS = {
    "project-id-dot-dot": ({"project_id": ".."}, "project_id"),
    "project-id-slash": ({"project_id": "a/b"}, "project_id"),
    "key-as-url-password": (
        {"base_url": f"http://user:{quote(FAULT_KEY, safe='')}@127.0.0.1:1"},
        "credentials",
    ),
    "key-as-url-user": (
        {"base_url": f"http://{quote(FAULT_KEY, safe='')}@127.0.0.1:1"},
        "credentials",
    ),
    "crlf-in-base-url": ({"base_url": "http://127.0.0.1:1\r\nX-Evil: 1"}, "base_url"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_bad_configuration_is_refused_before_anything_is_sent(name, captured):
    options, match = CONFIGS[name]
    options = {"api_key": FAULT_KEY, "project_id": "p", **options}
    with pytest.raises(ValueError, match=match) as info:
        AsyncPathors(**options)
    assert leaks([*texts_of_error(info.value), *captured.texts]) == []


def test_an_upper_case_scheme_is_accepted():
    assert AsyncPathors(api_key=FAULT_KEY, project_id="p", base_url="HTTP://127.0.0.1:1").base_url


SESSION_ANSWERS = {
    "created-id-echoing-the-key": (
        "create",
        whole({"sessionId": f"{FAULT_KEY}\r\n", "pathwayId": "pw"}),
        APIError,
    ),
    "state-echoing-the-key": (
        "get",
        whole({"sessionId": "s", "state": {"variables": {}, "messages": FAULT_KEY}}),
        APIError,
    ),
    "404-echoing-the-key": (
        "get",
        whole({"error": {"message": f"no session for {FAULT_KEY}"}}, status=404),
        NotFoundError,
    ),
    "ended-not-json": ("end", whole(f"<p>{FAULT_KEY}</p>".encode()), APIError),
}


@pytest.mark.parametrize("name", list(SESSION_ANSWERS))
async def test_session_api_answers_that_echo_the_key(name, captured):
    method, reply, error = SESSION_ANSWERS[name]
    async with serving("raw") as server, server.client() as client:
        server.add(always(reply))
        with pytest.raises(APIError) as info:
            await getattr(client.sessions, method)("s")
    assert type(info.value) is error
    assert server.seen == 1
    assert leaks([*texts_of_error(info.value), *captured.texts]) == []


@pytest.mark.parametrize("op", OPS)
def test_a_second_event_loop_is_refused(op):
    first = asyncio.new_event_loop()
    try:
        fake = FakePathors(api_keys=(FAULT_KEY,))
        first.run_until_complete(fake.start())
        server = Emulated(fake)
        client = server.client()
        first.run_until_complete(run("create", server, client, lambda: None))
        outcome = asyncio.run(run(op, server, client, lambda: None))
        assert type(outcome.error) is RuntimeError
        assert "another event loop" in str(outcome.error)
        assert server.seen == 1
        first.run_until_complete(fake.close())
    finally:
        first.close()
