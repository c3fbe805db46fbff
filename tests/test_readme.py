"""The README's Python blocks compile, and its emulator examples run as written."""

import ast
import pathlib
import re

import pytest

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
