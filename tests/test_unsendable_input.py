"""Keys, headers and ids that a request could not carry are refused before anything is sent."""

import aiohttp
import pytest

from pathors_async import Agent, AsyncPathors, Conversation

SECRET = "sk_SECRETKEY123456"


@pytest.mark.parametrize("key", [SECRET + "\n", SECRET + "\r\n", "sk_\x00" + SECRET, SECRET + "\t"])
def test_a_key_with_a_control_character_is_refused_without_showing_it(key):
    with pytest.raises(ValueError, match="contains a control character") as info:
        AsyncPathors(api_key=key, project_id="p")
    assert "trailing newline" in str(info.value)
    assert "SECRETKEY" not in str(info.value)
    assert "SECRETKEY" not in repr(info.value)


def test_a_key_utf8_cannot_encode_is_refused_without_showing_it():
    with pytest.raises(ValueError, match="API key") as info:
        AsyncPathors(api_key=SECRET + "\ud800", project_id="p")
    assert "SECRETKEY" not in str(info.value)


def test_a_key_that_is_not_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="api_key must be a string, not int"):
        AsyncPathors(api_key=5, project_id="p")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({"X-App": "a\r\nb"}, "default_headers: the value of header 'X-App' contains a control"),
        ({"X-App\n": "a"}, "default_headers: the header name 'X-App\\\\n' contains a control"),
        ({"Authorization": "Bearer " + SECRET + "\n"}, "value of header 'Authorization'"),
        ({"X-App": "\ud800"}, "value of header 'X-App' holds text UTF-8 cannot encode"),
        ({"": "a"}, "default_headers: a header name must not be empty"),
    ],
)
def test_default_headers_that_cannot_be_sent_are_refused(headers, text):
    with pytest.raises(ValueError, match=text) as info:
        AsyncPathors(api_key="k", project_id="p", default_headers=headers)
    assert "SECRETKEY" not in str(info.value)


def test_default_headers_that_are_not_strings_are_a_type_error():
    with pytest.raises(TypeError, match="default_headers: the value of header 'X-N' must be"):
        AsyncPathors(api_key="k", project_id="p", default_headers={"X-N": 5})  # type: ignore[dict-item]


async def test_extra_headers_that_cannot_be_sent_are_refused_before_sending(fake, client):
    bad = {"X-A": "a\nb"}
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="extra_headers: the value of header 'X-A'"):
        await client.chat.completions.create(messages=messages, extra_headers=bad)
    with pytest.raises(ValueError, match="extra_headers: the value of header 'X-A'"):
        client.chat.completions.stream(messages=messages, extra_headers=bad)
    assert fake.requests == []
    fake.reply("fine")
    answer = await client.chat.completions.create(messages=messages, extra_headers={"X-A": "ok"})
    assert answer.choices[0].message.content == "fine"


@pytest.mark.parametrize("session_id", ["\ud800", "a\udfffb"])
async def test_a_session_id_utf8_cannot_encode_is_refused_everywhere(fake, client, session_id):
    messages = [{"role": "user", "content": "hi"}]
    text = r"session_id .* holds text UTF-8 cannot encode"
    with pytest.raises(ValueError, match=text):
        await client.chat.completions.create(messages=messages, session_id=session_id)
    with pytest.raises(ValueError, match=text):
        client.chat.completions.stream(messages=messages, session_id=session_id)
    for operation in (client.sessions.get, client.sessions.create, client.sessions.end):
        with pytest.raises(ValueError, match=text):
            await operation(session_id)
    with pytest.raises(ValueError, match=text):
        Conversation(Agent(client), session_id=session_id)
    assert fake.requests == []


def test_a_project_id_utf8_cannot_encode_is_refused():
    with pytest.raises(ValueError, match=r"project_id .* holds text UTF-8 cannot encode"):
        AsyncPathors(api_key="k", project_id="p\ud800")


async def test_a_bad_header_of_the_callers_own_session_is_a_clear_value_error(fake):
    session = aiohttp.ClientSession(headers={"X-Bad": "a\nb"})
    async with session, fake.client(http_session=session) as client:
        with pytest.raises(ValueError, match="check default_headers, extra_headers") as info:
            await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    assert info.value.__cause__ is None
    assert fake.requests == []
