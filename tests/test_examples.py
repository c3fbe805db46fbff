"""Every script in examples/ runs, offline, without warnings."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

from .test_cli import clean_env

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))
EXPECTED = {
    "aiohttp_web_app.py": [
        "GET / -> 200 text/html",
        "ada: (FakePathors emulator, not a model) You said: hello",
        "bob: (FakePathors emulator, not a model) You said: hi there",
        "ada's conversation: ['user', 'assistant', 'user', 'assistant']",
    ],
    "concurrent_conversations.py": [
        "conversations: 1000, turns: 2000, outcomes: {'ok': 1000}",
        "the emulator received 2000 requests, 1000 sessions",
    ],
    "streaming.py": [
        "assistant: (FakePathors emulator, not a model) You said: Tell me a short story",
        "finish_reason: stop",
        "assistant: (FakePathors emulator, not a model) You said: And a shorter one?",
        "cut -> StreamError | partial text: 'This answer '",
    ],
    "testing_with_fake.py": ["3 passed"],
    "tools_agent.py": [
        "answer: (FakePathors emulator, not a model) Tool results: get_weather: 22°C and sunny",
        "(2 turns, tools: ['get_weather'])",
        'tool call: order_status({"order_id": "1042"})',
        'tool result: {"order": "1042", "status": "shipped"} (failure: None)',
        "log: ERROR tool 'order_status' raised LookupError",
        (
            "failure kind: ToolFailure.EXCEPTION | the model read: The tool 'order_status' failed: "
            "LookupError: Ada has no order 7"
        ),
        "order_status parameters: {'type': 'object', 'properties': {'order_id': ",
    ],
    "conversation_store.py": [
        "ada: (FakePathors emulator, not a model) Tool results: get_weather: sunny in Oslo",
        "bob: (FakePathors emulator, not a model) You said: hello",
        "ada: (FakePathors emulator, not a model) You said: thanks",
        "ada's conversation: 6 messages, session ",
    ],
    "fastapi_chat.py": [
        (
            "ada: (FakePathors emulator, not a model) You said: and again | "
            "(FakePathors emulator, not a model) You said: hello"
        ),
        "bob: (FakePathors emulator, not a model) You said: hi",
        "ada's conversation: ['user', 'assistant', 'user', 'assistant']",
    ],
    "openai_compatible.py": [
        "sdk create: (FakePathors emulator, not a model) You said: Say hello.",
        "sdk stream: (FakePathors emulator, not a model) You said: Count to three.",
        "sdk agent: (FakePathors emulator, not a model) Tool results: square: 49 (2 turns)",
        "openai-python base_url for the emulator: <emulator>/v1/projects/<project id>",
    ],
    "quickstart.py": ["assistant: (FakePathors emulator", "the service keeps 4 messages"],
    "errors_and_retries.py": [
        "401 -> AuthenticationError",
        "502 -> InternalServerError | body: <html>Bad Gateway</html>",
        "503 then 200 -> retried",
        "500 -> not retried; attempts: 1 | 500",
        "stall -> APITimeoutError | is TimeoutError: True",
    ],
}


# openai-python is in the dev extra; without it (a bare install) the example says so.
if importlib.util.find_spec("openai") is None:
    EXPECTED["openai_compatible.py"].append("openai-python is not installed")
else:
    EXPECTED["openai_compatible.py"] += [
        "openai create: (FakePathors emulator, not a model) You said: Hello",
        "openai stream: (FakePathors emulator, not a model) You said: Again",
        "session kept: True",
    ]


def example_env():
    """No PATHORS_* and no OPENAI_* from the caller's environment: the examples stay offline."""
    return {k: v for k, v in clean_env().items() if not k.startswith("OPENAI_")}


def test_every_example_is_checked():
    assert {path.name for path in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(path):
    result = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        capture_output=True,
        text=True,
        env=example_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for line in EXPECTED[path.name]:
        assert line in result.stdout


def run_user_pytest(tmp_path, pyproject, *options):
    """Run examples/testing_with_fake.py as a user's own test file, in a project of its own."""
    (tmp_path / "pyproject.toml").write_text(pyproject)
    example = pathlib.Path(__file__).parent.parent / "examples" / "testing_with_fake.py"
    (tmp_path / "test_app.py").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    return subprocess.run(
        [sys.executable, *options, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=example_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_testing_example_passes_with_the_documented_config(tmp_path):
    config = (
        "[tool.pytest.ini_options]\n"
        'asyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
    )
    result = run_user_pytest(tmp_path, config, "-W", "error")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_testing_example_needs_asyncio_mode(tmp_path):
    # What a user sees without the line the example's docstring shows.
    result = run_user_pytest(tmp_path, "[tool.pytest.ini_options]\n")
    assert result.returncode != 0
    assert "async def functions are not natively supported" in result.stdout
