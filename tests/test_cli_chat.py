"""``pathors-async chat``: driven through stdin, through a pseudo-terminal, and in process."""

import asyncio
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pathors_async import Agent
from pathors_async.cli._chat import ChatREPL, load_tools
from pathors_async.testing import FakePathors
from pathors_async.testing._responder import SCRIPTED
from tests.chat_tools import registry

TOOLS = "tests.chat_tools:registry"
ROOT = Path(__file__).resolve().parent.parent


def env(**extra):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PATHORS_")}
    return clean | {"PATHORS_BASE_URL": "http://127.0.0.1:9"} | extra


async def run_chat(lines, *args, cwd=ROOT):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "chat", *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
        cwd=cwd,
    )
    out, err = await process.communicate("".join(f"{line}\n" for line in lines).encode())
    return process.returncode, out.decode(), err.decode()


async def test_the_repl_driven_through_stdin(tmp_path):
    saved = tmp_path / "chat.json"
    code, out, err = await run_chat(
        [
            "What is the weather in Paris?",
            "/session",
            "",
            "thanks",
            "/session",
            f"/save {saved}",
            "/reset",
            "/session",
            f"/load {saved}",
            "/session",
            "and now?",
            "/exit",
            "never sent",
        ],
        *("--emulator", "--tools", "tests.chat_tools:registry", "--instructions", "Be brief."),
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == '     tool | get_weather({"city": "Paris"}) ...'
    assert re.fullmatch(r"     tool \| -> 18 degrees and cloudy in Paris \(\d+\.\d ms\)", lines[1])
    assert lines[2] == (
        f"assistant | {SCRIPTED} Tool results: get_weather: 18 degrees and cloudy in Paris"
    )
    first = re.fullmatch(r"     info \| session (\S+), 4 messages", lines[3])
    assert first, lines[3]
    session = first[1]
    assert lines[4] == f"assistant | {SCRIPTED} You said: thanks"
    assert lines[5] == f"     info | session {session}, 6 messages"  # the same session
    assert lines[6] == f"     info | saved 6 messages to {saved}"
    assert lines[7] == "     info | new conversation (the next message starts a new session)"
    assert lines[8] == "     info | session (none yet), 0 messages"
    assert lines[9] == f"     info | loaded 6 messages, session {session}"
    assert lines[10] == f"     info | session {session}, 6 messages"
    assert lines[11] == f"assistant | {SCRIPTED} You said: and now?"
    assert lines[12:] == []  # /exit: the last line was never sent
    data = json.loads(saved.read_text())
    assert data["session_id"] == session
    assert data["messages"][0] == {"role": "user", "content": "What is the weather in Paris?"}


async def test_commands_that_cannot_be_done_say_why_and_the_repl_goes_on(tmp_path):
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    code, out, _ = await run_chat(
        [
            "/bogus",
            "/save",
            "/load",
            "/load missing.json",
            "/load bad.json",
            f"/save {tmp_path}",
            "/help",
            "hi",
        ],
        "--emulator",
        cwd=tmp_path,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("    error | unknown command /bogus; commands: /session")
    assert lines[1] == "    error | /save needs a file name, e.g. /save chat.json"
    assert lines[2] == "    error | /load needs a file name, e.g. /load chat.json"
    assert lines[3] == "    error | cannot load missing.json: No such file or directory"
    assert lines[4] == (
        "    error | cannot load bad.json: this is not a conversation saved by "
        "Conversation.to_dict()"
    )
    assert lines[5] == f"    error | cannot save to {tmp_path}: Is a directory"
    assert lines[6].startswith("     info | commands: /session (show the session id)")
    assert lines[7] == f"assistant | {SCRIPTED} You said: hi"


async def test_live_mode_without_a_key_says_what_to_set():
    code, out, err = await run_chat(["hi"])
    assert code == 1
    assert out == ""
    assert "PATHORS_API_KEY" in err
    assert err.strip().endswith("(or use --emulator to chat offline)")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.chat_tools", "--tools must look like pkg.module:registry, got 'tests.chat_tools'"),
        ("tests.no_such_module:registry", "--tools tests.no_such_module:registry: cannot import"),
        ("tests.chat_tools:nothing", "--tools tests.chat_tools:nothing: cannot import it"),
        ("tests.chat_tools:not_a_registry", "got int, not a ToolRegistry"),
    ],
)
def test_bad_tools_specs_are_refused_with_the_fix(spec, message):
    with pytest.raises(SystemExit) as info:
        load_tools(spec)
    assert message in str(info.value)
    assert str(info.value).startswith("error: ")


def test_tools_from_a_registry_or_a_factory():
    assert load_tools("tests.chat_tools:registry") is registry
    assert load_tools("tests.chat_tools:make_registry") is registry


async def test_a_failed_request_prints_one_line_and_keeps_the_transcript():
    out = io.StringIO()
    async with FakePathors() as fake, fake.client() as client:
        repl = ChatREPL(Agent(client, tools=registry), out)
        fake.fail_next(400, message="the request was refused")
        assert await repl.handle("first")
        fake.cut_stream_next(after=3)
        fake.reply("a long answer that is cut")
        assert await repl.handle("second")
        assert await repl.handle("explode for testing")
        assert await repl.handle("third")
        assert not await repl.handle("/exit")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("    error | BadRequestError: 400 Bad Request from POST ")
    assert "the request was refused" in lines[0]
    assert lines[1].startswith("assistant | a long")  # the part that came before the cut
    assert lines[2].startswith("    error | StreamError: ")
    assert lines[3] == '     tool | explode({"reason": "testing"}) ...'
    assert re.fullmatch(
        r"     tool \| -> The tool 'explode' failed: RuntimeError: boom: testing "
        r"\[failed: exception\] \(\d+\.\d ms\)",
        lines[4],
    )
    assert lines[6] == f"assistant | {SCRIPTED} You said: third"
    users = [m.content for m in repl.conversation.messages if m.role == "user"]
    assert users == ["first", "second", "explode for testing", "third"]  # nothing lost


def test_colour_labels_on_a_terminal():
    out = io.StringIO()
    repl = ChatREPL.__new__(ChatREPL)
    repl.out, repl.color = out, True
    repl.say("tool", "x")
    assert out.getvalue() == "\x1b[1;33m     tool | \x1b[0mx\n"


def read_until(master, needle, seen=b""):
    """Read the terminal until `needle` shows up (a dead child or 30 s of silence fails)."""
    while needle not in seen:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, f"no output; waiting for {needle!r}, got {seen[-500:]!r}"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        assert chunk, f"the terminal closed; waiting for {needle!r}, got {seen[-500:]!r}"
        seen += chunk
    return seen


def test_the_repl_in_a_pseudo_terminal():
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pathors_async", "chat", "--emulator"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="100", LINES="30"),
        cwd=ROOT,
        close_fds=True,
    )
    os.close(slave)
    try:
        seen = read_until(master, b"you>")
        assert b"chatting with the bundled emulator" in seen
        os.write(master, b"hello from a terminal\r")
        seen = read_until(master, b"You said: hello from a terminal")
        seen = read_until(master, b"you>", seen.rpartition(b"You said")[2])
        os.write(master, b"/exit\r")
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_ctrl_c_stops_the_answer_not_the_repl():
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*(sys.executable, "-m", "pathors_async", "chat"), "--emulator", "--tools", TOOLS],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="100", LINES="30"),
        cwd=ROOT,
        close_fds=True,
    )
    os.close(slave)
    try:
        read_until(master, b"you>")
        os.write(master, b"wait_forever please\r")
        read_until(master, b"wait_forever({")  # the tool is running
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        seen = read_until(master, b"interrupted; the transcript keeps what happened so far")
        seen = read_until(master, b"you>", seen.rpartition(b"interrupted")[2])
        os.write(master, b"/session\r")
        read_until(master, b"messages")
        os.write(master, b"hello again\r")
        seen = read_until(master, b"You said: hello again")
        read_until(master, b"you>", seen.rpartition(b"You said")[2])
        os.write(master, b"\x04")  # Ctrl-D at the prompt ends the REPL
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_a_terminal_without_prompt_toolkit_uses_input(tmp_path):
    blocked = tmp_path / "prompt_toolkit"
    blocked.mkdir()
    (blocked / "__init__.py").write_text("raise ImportError('not installed (test)')\n")
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pathors_async", "chat", "--emulator"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env(TERM="xterm", PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}"),
        cwd=ROOT,
        close_fds=True,
    )
    os.close(slave)
    try:
        read_until(master, b"you> ")
        os.write(master, b"typed into input\n")
        seen = read_until(master, b"You said: typed into input")
        read_until(master, b"you> ", seen.rpartition(b"You said")[2])
        os.write(master, b"\x04")  # Ctrl-D: end of input
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


async def test_live_mode_takes_the_key_and_project_from_the_environment(fake):
    fake.reply("answered by the configured service")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "chat", "--instructions", "Be brief."),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(
            PATHORS_API_KEY=fake.api_key,
            PATHORS_PROJECT_ID=fake.project_id,
            PATHORS_BASE_URL=fake.url,
        ),
        cwd=ROOT,
    )
    out, err = await process.communicate(b"hello service\n")
    assert process.returncode == 0, err.decode()
    assert out.decode() == "assistant | answered by the configured service\n"
    assert fake.requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello service"},
    ]
