"""``pathors-async chat``: talk to the agent in a terminal, answers streamed as they come.

Each line is a user message, except the commands ``/session``, ``/reset``,
``/save FILE``, ``/load FILE``, ``/help`` and ``/exit``. On a terminal the
prompt has line editing and history (prompt_toolkit, from the ``cli`` extra;
else ``input()``). Ctrl-C stops the answer under way, not the REPL. When stdin
is not a terminal it reads one message per line and prints plain text, so
scripts and tests can drive it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from pathors_async import (
    Agent,
    AsyncPathors,
    Conversation,
    PathorsError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolRegistry,
)

__all__ = ["ChatREPL", "add_parser", "run"]

HELP = (
    "commands: /session (show the session id), /reset (start a new conversation), "
    "/save FILE, /load FILE, /help, /exit"
)
_COLORS = {"assistant": "1;32", "tool": "1;33", "error": "1;31", "info": "2"}


class ChatREPL:
    """The REPL's state and what each line does, apart from how lines are read.

    Args:
        agent: The agent that answers.
        out: Where to print.
        color: Colour the labels (ANSI), for a terminal.
    """

    def __init__(self, agent: Agent, out: TextIO, *, color: bool = False) -> None:
        self.agent = agent
        self.out = out
        self.color = color
        self.conversation = agent.conversation()

    def _label(self, role: str) -> str:
        label = f"{role:>9} | "
        return f"\x1b[{_COLORS[role]}m{label}\x1b[0m" if self.color else label

    def say(self, role: str, text: str) -> None:
        """Print one labelled line."""
        print(self._label(role) + text, file=self.out, flush=True)

    async def handle(self, line: str) -> bool:
        """Act on one input line.

        Returns:
            False when the REPL should stop (``/exit``).
        """
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self._command(text)
        await self.send(text)
        return True

    def _command(self, text: str) -> bool:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/session":
            session = self.conversation.session_id
            count = len(self.conversation.messages)
            self.say("info", f"session {session or '(none yet)'}, {count} messages")
        elif name == "/reset":
            self.conversation = self.agent.conversation()
            self.say("info", "new conversation (the next message starts a new session)")
        elif name in ("/save", "/load") and not argument:
            self.say("error", f"{name} needs a file name, e.g. {name} chat.json")
        elif name == "/save":
            self._save(Path(argument))
        elif name == "/load":
            self._load(Path(argument))
        elif name == "/help":
            self.say("info", HELP)
        else:
            self.say("error", f"unknown command {name}; {HELP}")
        return True

    def _save(self, path: Path) -> None:
        data = json.dumps(self.conversation.to_dict(), ensure_ascii=False, indent=2)
        try:
            path.write_text(data + "\n", encoding="utf-8")
        except OSError as exc:
            self.say("error", f"cannot save to {path}: {exc.strerror or exc}")
            return
        self.say("info", f"saved {len(self.conversation.messages)} messages to {path}")

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            conversation = Conversation.from_dict(data, agent=self.agent)
        except OSError as exc:
            self.say("error", f"cannot load {path}: {exc.strerror or exc}")
            return
        except ValueError as exc:  # JSON errors included
            self.say("error", f"cannot load {path}: {exc}")
            return
        self.conversation = conversation
        session = conversation.session_id or "(none yet)"
        self.say("info", f"loaded {len(conversation.messages)} messages, session {session}")

    async def send(self, text: str) -> None:
        """Send one message and print the answer and tool calls as they stream in.

        A failure prints one line (the error's text); the transcript keeps
        what happened and the next message goes on from there.
        """
        answering = False
        try:
            async with self.conversation.stream(text) as run:
                async for event in run:
                    if isinstance(event, TextDelta):
                        if not answering:
                            print(self._label("assistant"), end="", file=self.out)
                            answering = True
                        print(event.text, end="", file=self.out, flush=True)
                        continue
                    if answering:
                        print(file=self.out)
                        answering = False
                    self._tool_event(event)
        except PathorsError as exc:
            if answering:
                print(file=self.out)
            self.say("error", f"{type(exc).__name__}: {exc}")
            return
        if answering:
            print(file=self.out, flush=True)

    def _tool_event(self, event: object) -> None:
        if isinstance(event, ToolCallStarted):
            self.say("tool", f"{event.name}({event.arguments}) ...")
        elif isinstance(event, ToolCallFinished):
            ms = f"{event.duration * 1000:.1f} ms"
            failed = f" [failed: {event.failure.value}]" if event.failure is not None else ""
            self.say("tool", f"-> {event.result.content}{failed} ({ms})")


# ---------------------------------------------------------------- reading lines


async def _piped_lines(stdin: TextIO) -> AsyncGenerator[str, None]:
    while line := await asyncio.to_thread(stdin.readline):
        yield line


async def _input_lines(prompt: str) -> AsyncGenerator[str, None]:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401, PLC0415 - gives input() line editing and history
    while True:
        try:
            yield await asyncio.to_thread(input, prompt)
        except EOFError:  # noqa: PERF203 - once per line typed
            return


async def _toolkit_lines(prompt: str) -> AsyncGenerator[str, None]:
    from prompt_toolkit import PromptSession  # noqa: PLC0415 - optional (cli extra)
    from prompt_toolkit.history import InMemoryHistory  # noqa: PLC0415

    session: PromptSession[str] = PromptSession(history=InMemoryHistory())
    while True:
        try:
            yield await session.prompt_async(prompt)
        except KeyboardInterrupt:  # noqa: PERF203 - Ctrl-C clears the line, as in a shell
            continue
        except EOFError:  # Ctrl-D
            return


def lines_from(stdin: TextIO) -> AsyncGenerator[str, None]:
    """The input lines: prompt_toolkit or ``input()`` on a terminal, else one per line."""
    if not stdin.isatty():
        return _piped_lines(stdin)
    try:
        import prompt_toolkit  # noqa: F401, PLC0415 - is it installed?
    except ImportError:
        return _input_lines("you> ")
    return _toolkit_lines("you> ")


# ---------------------------------------------------------------- the command


def load_tools(spec: str) -> ToolRegistry:
    """Import ``pkg.mod:registry``: a `ToolRegistry`, or a callable returning one.

    The current directory is importable, as with ``python -m``.

    Raises:
        SystemExit: It cannot be imported or is not a registry.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"error: --tools must look like pkg.module:registry, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"error: --tools {spec}: cannot import it ({exc})") from None
    if not isinstance(target, ToolRegistry) and callable(target):
        target = target()
    if not isinstance(target, ToolRegistry):
        raise SystemExit(f"error: --tools {spec}: got {type(target).__name__}, not a ToolRegistry")
    return target


@contextlib.asynccontextmanager
async def _client(emulator: bool) -> AsyncIterator[AsyncPathors]:  # noqa: FBT001
    if emulator:
        from pathors_async.testing import FakePathors  # noqa: PLC0415 - only for --emulator

        async with FakePathors() as fake, fake.client() as client:
            yield client
        return
    try:
        client = AsyncPathors()
    except ValueError as exc:
        raise SystemExit(f"error: {exc} (or use --emulator to chat offline)") from None
    async with client:
        yield client


async def chat(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> None:
    """Run the REPL until ``/exit`` or the end of input."""
    tools = load_tools(args.tools) if args.tools else None
    async with _client(args.emulator) as client:
        agent = Agent(client, tools=tools, instructions=args.instructions)
        repl = ChatREPL(agent, out, color=out.isatty())
        where = "the bundled emulator (scripted, not a model)" if args.emulator else client
        if stdin.isatty():
            repl.say("info", f"chatting with {where}; {HELP}")
        async with contextlib.aclosing(lines_from(stdin)) as lines:
            async for line in lines:
                if not await _interruptible(repl, line):
                    break


async def _interruptible(repl: ChatREPL, line: str) -> bool:
    """Handle one line; Ctrl-C (SIGINT) meanwhile stops that answer, not the REPL."""
    task = asyncio.ensure_future(repl.handle(line))
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows, or not main thread
        return await task
    try:
        return await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
        print(file=repl.out)
        repl.say("info", "interrupted; the transcript keeps what happened so far")
        return True
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def add_parser(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register ``chat`` and its options."""
    parser = commands.add_parser(
        "chat",
        help="chat with an agent in the terminal (streamed, tools shown)",
        description=f"Chat with an agent; answers stream as they come. {HELP}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--tools",
        metavar="MOD:NAME",
        help="the tools: a ToolRegistry (or a function returning one)",
    )
    parser.add_argument("--instructions", help="the system prompt")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="talk to the bundled emulator (offline); default: the service, configured by "
        "PATHORS_API_KEY, PATHORS_PROJECT_ID and PATHORS_BASE_URL",
    )


def run(args: argparse.Namespace) -> int:
    """Run the REPL; the exit status."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(chat(args, sys.stdin, sys.stdout))
    return 0
