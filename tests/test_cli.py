"""The pathors-async command: the offline demo and the standalone emulator."""

import asyncio
import os
import re
import signal
import sys

import pytest

from pathors_async import AsyncPathors
from pathors_async.cli import main
from pathors_async.testing._responder import SCRIPTED


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHORS_")}
    env["PATHORS_BASE_URL"] = "http://127.0.0.1:9"  # never the real service
    return env


def test_demo_runs_offline(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "scripted, not a model" in out
    assert '     tool | get_weather({"city": "Taipei"}) ...' in out
    assert "     tool | -> 22°C and sunny in Taipei (" in out
    assert f"assistant | {SCRIPTED} Tool results: get_weather: 22°C and sunny in Taipei" in out
    assert re.search(r"\(conversation saved as \d+ bytes of JSON, then restored\)", out)
    assert f"assistant | {SCRIPTED} You said: Thanks! Please remember my name is Ada." in out
    sessions = re.findall(r"\(turns: (\d), session (\S+)\)", out)
    assert [turns for turns, _ in sessions] == ["2", "1"]
    assert sessions[0][1] == sessions[1][1]  # the restored conversation kept its session
    assert re.search(r"session \S+ holds 7 messages on the server", out)
    assert "ended: True" in out


def test_demo_without_rich(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import fails as if not installed
    assert main(["demo"]) == 0
    assert "     user | What's the weather in Taipei?" in capsys.readouterr().out


def test_no_command_shows_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: pathors-async" in capsys.readouterr().err


async def test_the_standalone_emulator_serves_until_interrupted(retries):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "emulator", "--port", "0", "--api-key", "k1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        banner = [(await process.stdout.readline()).decode() for _ in range(6)]
        url = re.fullmatch(r"FakePathors listening on (http://127\.0\.0\.1:\d+)\n", banner[0])
        assert url, banner
        assert banner[-1] == "  press Ctrl-C to stop\n"
        async with AsyncPathors(api_key="k1", project_id="test-project", base_url=url[1]) as client:
            completion = await client.chat.completions.create(
                messages=[{"role": "user", "content": "ping"}]
            )
        assert completion.choices[0].message.content == f"{SCRIPTED} You said: ping"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
