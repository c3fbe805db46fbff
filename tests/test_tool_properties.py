"""`Tool` says what the registry needs publicly; no module reaches into another's private names."""

import pathlib

import pytest

from pathors_async import Tool, ToolContext

PACKAGE = pathlib.Path(__file__).parent.parent / "pathors_async"


def plain(x: int) -> str:
    """Plain."""
    return str(x)


async def with_context(x: int, ctx: ToolContext) -> str:
    """With a context."""
    return str(x)


def test_a_tool_says_whether_it_is_async_and_takes_a_context():
    first, second = Tool.from_function(plain), Tool.from_function(with_context)
    assert (first.is_async, first.takes_context) == (False, False)
    assert (second.is_async, second.takes_context) == (True, True)


@pytest.mark.parametrize("name", ["is_async", "takes_context"])
def test_they_are_read_only(name):
    with pytest.raises(AttributeError):
        setattr(Tool.from_function(plain), name, True)


def test_no_module_of_the_package_reaches_into_private_names():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "noqa: SLF001" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
