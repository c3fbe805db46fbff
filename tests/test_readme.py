"""The README's Python blocks compile, and its emulator examples run as written."""

import ast
import asyncio
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from .test_cli import clean_env

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def block_defining(name):
    [block] = [b for b in BLOCKS if f"def {name}(" in b]
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace[name]


@pytest.mark.parametrize("block", BLOCKS, ids=range(len(BLOCKS)))
def test_every_python_block_compiles(block):
    compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def test_the_emulator_example_runs_as_written():
    await block_defining("test_greeting")()


async def test_the_fixture_example_runs_as_written(pathors_fake, pathors_client):
    await block_defining("test_reply")(pathors_fake, pathors_client)


async def test_the_agent_example_runs_as_written_against_the_emulator(tmp_path):
    [block] = [b for b in BLOCKS if "Agent(client, tools=tools).run(" in b]
    script = tmp_path / "readme_agent.py"
    script.write_text(block, encoding="utf-8")
    env = clean_env()
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "emulator", "--port", "0"),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert emulator.stdout is not None
        first = (await emulator.stdout.readline()).decode()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), first
        env |= {"PATHORS_API_KEY": "test-key", "PATHORS_PROJECT_ID": "test-project"}
        env["PATHORS_BASE_URL"] = url
        example = await asyncio.create_subprocess_exec(
            sys.executable, "-W", "error", str(script), stdout=asyncio.subprocess.PIPE, env=env
        )
        out, _ = await example.communicate()
    finally:
        emulator.send_signal(signal.SIGINT)
        await emulator.communicate()
    assert example.returncode == 0
    assert out.decode().strip() == (
        "(FakePathors emulator, not a model) Tool results: get_weather: 22°C and sunny in Taipei"
    )


def test_the_pytest_examples_pass_as_copied_with_the_readme_settings(tmp_path):
    [settings] = re.findall(r"```toml\n(\[tool\.pytest\.ini_options\]\n.*?)```", README, re.S)
    (tmp_path / "pyproject.toml").write_text(settings, encoding="utf-8")
    tests = [b for b in BLOCKS if re.search(r"^async def test_(greeting|reply)\(", b, re.M)]
    assert len(tests) == 2
    (tmp_path / "test_app.py").write_text("\n\n".join(tests), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
