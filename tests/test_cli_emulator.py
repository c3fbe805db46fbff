"""``pathors-async emulator``: log lines, --script, a taken port, the OpenAI-style paths."""

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from pathors_async import AsyncPathors, NotFoundError, RetryPolicy
from pathors_async.cli import main
from pathors_async.testing._responder import SCRIPTED

ROOT = Path(__file__).resolve().parent.parent


def env():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PATHORS_")}
    return clean | {"PATHORS_BASE_URL": "http://127.0.0.1:9"}


class Emulator:
    """``pathors-async emulator`` in a child process, read line by line."""

    def __init__(self, *args):
        self.args = args
        self.process = None
        self.url = None
        self.banner = []

    async def __aenter__(self):
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "pathors_async", "emulator", "--port", "0", *self.args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env(),
            cwd=ROOT,
        )
        while not self.banner or self.banner[-1] != "  press Ctrl-C to stop":
            line = await self.line()
            assert line, f"the emulator stopped: {self.banner}"
            self.banner.append(line)
        self.url = re.fullmatch(r"FakePathors listening on (\S+)", self.banner[0])[1]
        return self

    async def line(self):
        return (await self.process.stdout.readline()).decode().rstrip("\n")

    async def __aexit__(self, *exc):
        self.process.send_signal(signal.SIGINT)  # Ctrl-C: a clean exit (coverage is saved)
        _, err = await self.process.communicate()
        assert self.process.returncode == 0, err.decode()


LOG = r"(POST|GET|DELETE) (\S+) session=(\S+) (\d{3}) \d+\.\d ms"


async def test_one_log_line_per_request():
    async with Emulator() as emulator:
        assert f"  OpenAI-style base URL: {emulator.url}/v1  (the project test-project)" in (
            emulator.banner
        )
        async with AsyncPathors(
            api_key="test-key", project_id="test-project", base_url=emulator.url
        ) as client:
            completion = await client.chat.completions.create(
                messages=[{"role": "user", "content": "ping"}], session_id="s-1"
            )
            line = re.fullmatch(LOG, await emulator.line())
            assert line.groups() == (
                "POST",
                "/v1/projects/test-project/chat/completions",
                "s-1",
                "200",
            )
            async with client.chat.completions.stream(
                messages=[{"role": "user", "content": "streamed"}]
            ) as stream:
                final = await stream.get_final_completion()
            line = re.fullmatch(LOG, await emulator.line())
            assert line.groups() == (
                "POST",
                "/v1/projects/test-project/chat/completions",
                final.session_id,
                "200",
            )
            await client.sessions.end("s-1")
            line = re.fullmatch(LOG, await emulator.line())
            assert line.groups() == ("DELETE", "/v1/projects/test-project/sessions", "-", "200")
        assert completion.choices[0].message.content == f"{SCRIPTED} You said: ping"
        async with aiohttp.ClientSession() as http, http.get(f"{emulator.url}/v1/models") as r:
            assert r.status == 401
        line = re.fullmatch(LOG, await emulator.line())
        assert line.groups() == ("GET", "/v1/models", "-", "401")


async def test_a_script_queues_replies_and_faults(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"reply": "from the script"},
                {"fail_next": 404, "message": "scripted not found"},
                {"reply_tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]},
            ]
        )
    )
    async with Emulator("--script", str(script), "--quiet") as emulator:
        assert f"  script:     3 steps from {script}" in emulator.banner
        async with AsyncPathors(
            api_key="test-key",
            project_id="test-project",
            base_url=emulator.url,
            retry=RetryPolicy(max_retries=0),
        ) as client:
            messages = [{"role": "user", "content": "hi"}]
            with pytest.raises(NotFoundError, match="scripted not found"):
                await client.chat.completions.create(messages=messages)  # faults come first
            first = await client.chat.completions.create(messages=messages)
            second = await client.chat.completions.create(messages=messages)
    assert first.choices[0].message.content == "from the script"
    assert second.choices[0].message.tool_calls[0].function.name == "lookup"


async def run_emulator(*args):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "emulator", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_a_bad_script_is_one_line_and_exit_2(tmp_path):
    script = tmp_path / "script.json"
    script.write_text('[{"reply": "ok"}, {"reply": "a", "fail_next": 500}]')
    code, out, err = await run_emulator("--port", "0", "--script", str(script))
    assert (code, out) == (2, "")
    assert err.startswith("error: step 2: name exactly one of reply, reply_tool_calls, ")
    assert err.count("\n") == 1


async def test_a_taken_port_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_emulator("--port", str(port))
    assert (code, out) == (2, "")
    assert err == (
        f"error: cannot listen on 127.0.0.1:{port}: port {port} is already in use "
        "(pick another with --port, or 0)\n"
    )


async def test_another_listen_failure_says_why():
    code, _, err = await run_emulator("--host", "192.0.2.1", "--port", "0")  # not ours
    assert code == 2
    assert err.startswith("error: cannot listen on 192.0.2.1:0: ")
    assert err.count("\n") == 1


async def test_openai_style_paths_with_our_client():
    async with Emulator("--quiet") as emulator:
        async with AsyncPathors(
            api_key="test-key", chat_completions_url=f"{emulator.url}/v1/chat/completions"
        ) as client:
            completion = await client.chat.completions.create(
                messages=[{"role": "user", "content": "openai style"}]
            )
        headers = {"Authorization": "Bearer test-key"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(f"{emulator.url}/v1/models") as response,
        ):
            models = await response.json()
    assert completion.choices[0].message.content == f"{SCRIPTED} You said: openai style"
    assert models == {
        "object": "list",
        "data": [
            {"id": "pathors-fake", "object": "model", "created": 0, "owned_by": "pathors-fake"}
        ],
    }


async def test_openai_python_against_the_emulator():
    openai = pytest.importorskip(
        "openai", reason="openai-python is in the dev extra: pip install -e '.[dev]'"
    )
    async with Emulator("--quiet") as emulator:
        client = openai.AsyncOpenAI(api_key="test-key", base_url=f"{emulator.url}/v1")
        async with client:
            completion = await client.chat.completions.create(
                model="pathors-fake", messages=[{"role": "user", "content": "from openai"}]
            )
            models = await client.models.list()
    assert completion.choices[0].message.content == f"{SCRIPTED} You said: from openai"
    assert [model.id for model in models.data] == ["pathors-fake"]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"pathors-async \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("emulator", ["(default: 8765)", "(default: 127.0.0.1)", "(default: test-key)"]),
        ("chat", ["--tools MOD:NAME", "--emulator", "PATHORS_API_KEY"]),
    ],
)
def test_help_shows_the_defaults(capsys, command, shown):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in shown:
        assert text in out
