"""Every script in examples/ runs, offline, without warnings."""

import pathlib
import subprocess
import sys

import pytest

from .test_cli import clean_env

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))
EXPECTED = {
    "agent_weather.py": [
        "Tool results: get_weather: 22°C and sunny in Taipei",
        "(2 turns, tools: ['get_weather'])",
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
    "quickstart.py": ["assistant: (FakePathors emulator", "the service keeps 4 messages"],
    "errors_and_retries.py": [
        "401 -> AuthenticationError",
        "502 -> InternalServerError | body: <html>Bad Gateway</html>",
        "503 then 200 -> retried",
        "500 -> not retried; attempts: 1 | 500",
        "stall -> APITimeoutError | is TimeoutError: True",
    ],
}


def test_every_example_is_checked():
    assert {path.name for path in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(path):
    result = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for line in EXPECTED[path.name]:
        assert line in result.stdout
