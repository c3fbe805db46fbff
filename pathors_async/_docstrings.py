"""Google-style docstrings -> a tool's description and its parameters' descriptions (pure)."""

from __future__ import annotations

import inspect
import re
from typing import Final

__all__ = ["parse_docstring"]

_SECTION: Final = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|"
    r"Raises|Examples?|Notes?|Attributes|See Also|Todo|Warnings?|References)\s*:\s*$"
)
_ARGS_SECTIONS: Final = frozenset(
    {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}
)
_ARG_LINE: Final = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(docstring: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into the description and the argument descriptions.

    Args:
        docstring: The docstring, or None.

    Returns:
        The text before the first section (paragraphs kept apart, lines within a
        paragraph joined) and a mapping of parameter name to its description.
    """
    if not docstring:
        return "", {}
    lines = inspect.cleandoc(docstring).splitlines()
    description: list[str] = []
    arguments: dict[str, list[str]] = {}
    section: str | None = None
    current: str | None = None
    base_indent = 0
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in _ARGS_SECTIONS or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ARG_LINE.match(line.strip())
        if entry and (current is None or indent <= base_indent):
            current, base_indent = entry.group(1), indent
            arguments[current] = [entry.group(2).strip()]
        elif current is not None:
            arguments[current].append(line.strip())
    return _paragraphs(description), {
        name: " ".join(part for part in parts if part) for name, parts in arguments.items()
    }


def _paragraphs(lines: list[str]) -> str:
    text = "\n".join(lines).strip()
    return "\n\n".join(" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block)
