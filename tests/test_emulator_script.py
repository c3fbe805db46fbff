"""Emulator scripts (`apply_script`, `read_script`) and the request hook (`RequestLog`)."""

import sys

import aiohttp
import pytest

from pathors_async import AsyncPathors, AuthenticationError, InternalServerError, RetryPolicy
from pathors_async.testing import FakePathors, RequestLog
from pathors_async.testing._script import SCRIPT_METHODS, ScriptError, apply_script, read_script

EVERY_METHOD = [
    {"reply": "hello", "finish_reason": "length"},
    {"reply_tool_calls": [{"name": "f", "arguments": {"a": 1}}], "content": "calling"},
    {"fail_next": 503, "times": 2, "retry_after": 1},
    {"delay_next": 0},
    {"stall_next": True},
    {"drop_next": None, "times": 1},
    {"cut_stream_next": True, "after": 2},
    {"end_stream_next": True},
    {"stall_stream_next": True},
    {"corrupt_stream_next": True, "line": "data: {"},
    {"error_in_stream_next": True, "message": "boom", "status": 500},
    {"linger_after_done_next": True},
    {"noisy_stream_next": True},
]


def test_every_scripting_method_has_a_step():
    assert [next(iter(step)) for step in EVERY_METHOD] == list(SCRIPT_METHODS)
    fake = FakePathors()
    assert apply_script(fake, EVERY_METHOD) == 13
    assert len(fake._script) == 2
    assert [fault.kind for fault in fake._faults] == ["status", "status", "delay", "stall", "drop"]
    assert len(fake._stream_faults) == 7


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("reply", "step 2: expected an object, got str"),
        ({}, "step 2: name exactly one of reply, reply_tool_calls, fail_next"),
        ({"reply": "a", "drop_next": True}, "got ['drop_next', 'reply']"),
        ({"reply": "a", "colour": "red"}, "step 2 (reply): got an unexpected keyword argument"),
        ({"reply": 42}, "step 2 (reply): the value must be the answer's text"),
        ({"reply_tool_calls": [{"arguments": {}}]}, 'a list of {"name": ..., "arguments"'),
        ({"fail_next": "503"}, "step 2 (fail_next): the value must be an HTTP status"),
        ({"fail_next": True}, "the value must be an HTTP status such as 503"),
        ({"delay_next": "1s"}, "step 2 (delay_next): the value must be a number of seconds"),
    ],
)
def test_a_bad_step_is_refused_and_nothing_is_queued(step, message):
    fake = FakePathors()
    with pytest.raises(ScriptError, match=None) as info:
        apply_script(fake, [{"reply": "first"}, step])
    assert message in str(info.value)
    assert not fake._script
    assert not fake._faults


def test_read_script_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('[{"reply": "hi"}]')
    assert read_script(path) == [{"reply": "hi"}]
    path.write_text('{"reply": "hi"}')
    with pytest.raises(ScriptError, match="must hold a list of steps, got dict"):
        read_script(path)
    path.write_text("[{")
    with pytest.raises(ScriptError, match="is not valid JSON"):
        read_script(path)
    with pytest.raises(ScriptError, match=r"cannot read the script .*missing\.json"):
        read_script(tmp_path / "missing.json")


def test_yaml_without_pyyaml_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # import fails as if not installed
    path = tmp_path / "s.yaml"
    path.write_text("- reply: hi\n")
    with pytest.raises(ScriptError, match="PyYAML is not installed: pip install pyyaml"):
        read_script(path)


def test_yaml_with_pyyaml(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is not a dependency; the YAML path needs it")
    path = tmp_path / "s.yml"
    path.write_text("- reply: hi\n- fail_next: 503\n")
    assert read_script(path) == [{"reply": "hi"}, {"fail_next": 503}]
    path.write_text("- [unclosed\n")
    with pytest.raises(ScriptError, match="is not valid YAML"):
        read_script(path)


def test_the_log_line():
    entry = RequestLog(method="GET", path="/v1/models", session_id=None, status=200, ms=1.25)
    assert entry.line() == "GET /v1/models session=- 200 1.2 ms"


async def test_the_request_hook_sees_every_answer():
    seen = []
    async with FakePathors(on_request=seen.append) as fake:
        async with fake.client(retry=RetryPolicy(max_retries=0)) as client:
            fake.fail_next(500)
            with pytest.raises(InternalServerError):
                await client.chat.completions.create(messages=[{"role": "user", "content": "a"}])
            await client.chat.completions.create(
                messages=[{"role": "user", "content": "b"}], session_id="s-9"
            )
        fake.on_request = None
        async with AsyncPathors(api_key="wrong", project_id="test-project", base_url=fake.url) as c:
            with pytest.raises(AuthenticationError):
                await c.sessions.get("s-9")
        fake.on_request = seen.append
        async with aiohttp.ClientSession() as http, http.get(f"{fake.url}/v2/nothing") as r:
            assert r.status == 404
    assert [(e.method, e.session_id, e.status) for e in seen] == [
        ("POST", None, 500),
        ("POST", "s-9", 200),
        ("GET", None, 404),
    ]
    assert all(e.ms >= 0 for e in seen)
