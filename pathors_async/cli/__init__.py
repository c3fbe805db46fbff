"""The ``pathors-async`` command: an offline demo, a chat REPL, the emulator, batch runs.

Each command lives in its own module with an ``add_parser(commands)`` and a
``run(args) -> int``; ``batch`` parses its own arguments (it has subcommands
and a default form), see `pathors_async.cli._batch`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pathors_async._version import __version__

from . import _batch, _chat, _demo, _emulator

__all__ = ["main"]

_COMMANDS = {"demo": _demo, "chat": _chat, "emulator": _emulator}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathors-async", description="pathors_async: demo, chat, local emulator and batch runs"
    )
    parser.add_argument("--version", action="version", version=f"pathors-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _COMMANDS.values():
        module.add_parser(commands)
    commands.add_parser(
        "batch", help="run a JSONL file of conversations (pathors-async batch --help)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    import sys  # noqa: PLC0415 - only to read the default arguments

    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["batch"]:
        return _batch.main(arguments[1:])
    args = _parser().parse_args(arguments)
    status: int = _COMMANDS[args.command].run(args)
    return status
