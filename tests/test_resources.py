"""The chat and sessions namespaces: argument checks, bodies, and the session API."""

import pytest

from pathors_async import (
    APIError,
    AsyncPathors,
    ConflictError,
    Message,
    NotFoundError,
    SessionCreated,
    SessionEnded,
)
from pathors_async._ids import check_session_id
from pathors_async._resources import chat_body, tools_payload

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


class Registry:
    """Anything with `definitions` is accepted as a tool source (a ToolRegistry later)."""

    definitions = (WEATHER,)


def test_tools_payload_accepts_definitions_and_registries():
    assert tools_payload(None) is None
    assert tools_payload([]) is None
    assert tools_payload([WEATHER]) == [WEATHER]
    assert tools_payload((WEATHER,)) == [WEATHER]
    assert tools_payload(Registry()) == [WEATHER]


@pytest.mark.parametrize(
    ("tools", "text"),
    [
        ("get_weather", "tools must be a list of tool definitions or a ToolRegistry, not str"),
        (WEATHER, "tools must be a list of tool definitions or a ToolRegistry, not dict"),
        ([{"type": "function"}], r"tools\[0\] must look like"),
        ([WEATHER, {"type": "retrieval", "function": {"name": "x"}}], r"tools\[1\] must look like"),
        ([WEATHER, "x"], r"tools\[1\] must look like"),
    ],
)
def test_misshaped_tools_are_refused(tools, text):
    with pytest.raises(TypeError, match=text):
        tools_payload(tools)


def test_chat_body():
    body = chat_body(
        [Message(role="user", content="hi")], [WEATHER], stream=True, extra_body={"x": 1}
    )
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "tools": [WEATHER],
        "x": 1,
    }


def test_check_session_id_passes_good_ids_through():
    assert check_session_id(None) is None
    assert check_session_id("session-xyz789") == "session-xyz789"
    assert check_session_id("Ünïcode id") == "Ünïcode id"


async def test_tools_are_sent(client, fake):
    await client.chat.completions.create(
        messages=[{"role": "user", "content": "weather in Taipei?"}], tools=[WEATHER]
    )
    assert fake.requests[0].body["tools"] == [WEATHER]


# ------------------------------------------------------------------ sessions


async def test_session_life_cycle(client, fake):
    created = await client.sessions.create("s-1", variables={"name": "Ada"}, provider="web")
    assert created == SessionCreated(session_id="s-1", pathway_id="pathway-fake")
    assert fake.requests[0].body == {
        "session_id": "s-1",
        "variables": {"name": "Ada"},
        "provider": "web",
    }
    completion = await client.chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], session_id="s-1"
    )
    assert completion.session_id == "s-1"
    state = await client.sessions.get("s-1")
    assert state.session_id == "s-1"
    assert state.variables == {"name": "Ada"}
    assert [m["role"] for m in state.messages] == ["user", "assistant"]
    assert state.messages[0] == {"role": "user", "content": "hi"}
    ended = await client.sessions.end("s-1")
    assert ended == SessionEnded(success=True, session_id="s-1", message="Session ended")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/projects/test-project/sessions"),
        ("POST", "/v1/projects/test-project/chat/completions"),
        ("GET", "/v1/projects/test-project/sessions/s-1"),
        ("DELETE", "/v1/projects/test-project/sessions"),
    ]
    assert fake.requests[-1].body == {"session_id": "s-1"}


async def test_a_session_created_twice_is_a_conflict(client):
    await client.sessions.create("dup")
    with pytest.raises(ConflictError, match="Session already exists"):
        await client.sessions.create("dup")


async def test_unknown_sessions_are_not_found(client):
    with pytest.raises(NotFoundError, match="Session not found"):
        await client.sessions.get("missing")
    with pytest.raises(NotFoundError, match="Session not found"):
        await client.sessions.end("missing")


async def test_session_ids_in_paths_are_escaped(client, fake):
    await client.sessions.create("a b?c")
    await client.sessions.get("a b?c")
    assert fake.requests[-1].path == "/v1/projects/test-project/sessions/a b?c"  # decoded by server


async def test_the_session_api_needs_a_project(fake):
    async with AsyncPathors(
        api_key=fake.api_key, chat_completions_url=f"{fake.url}/v1/projects/p/chat/completions"
    ) as client:
        with pytest.raises(ValueError, match="the session API needs a project id"):
            await client.sessions.get("s")


async def test_sparse_session_answers_are_filled_from_the_request(client, fake):
    fake.fail_next(200, body={})
    assert await client.sessions.create("s-9") == SessionCreated(session_id="s-9")
    await client.sessions.create("s-10")
    fake.fail_next(200, body={})
    assert await client.sessions.end("s-10") == SessionEnded(success=True, session_id="s-10")


async def test_a_misshaped_session_answer_is_an_api_error(client, fake):
    fake.fail_next(200, body={"state": {}})
    with pytest.raises(APIError, match=r"unexpected answer from \S+/sessions/s"):
        await client.sessions.get("s")
