"""The ``pathors-async`` command: an offline demo and a standalone emulator.

``pathors-async demo`` runs a short exchange against the emulator started in
this process (no credentials, no network). ``pathors-async emulator`` serves
the emulator until interrupted, so curl or any OpenAI-compatible client can
talk to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from pathors_async._models import Message
from pathors_async.testing import FakePathors

__all__ = ["main"]


_ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green"}


def _label(role: str) -> str:
    """The start of a line of the exchange, in colour when the ``cli`` extra (rich) is installed."""
    try:
        from rich.console import Console  # noqa: PLC0415 - optional dependency
    except ImportError:
        return f"{role:>9} | "
    console = Console(highlight=False, force_terminal=None)
    with console.capture() as captured:
        console.print(f"[{_ROLE_STYLES.get(role, 'bold')}]{role:>9}[/] | ", end="")
    return captured.get()


def _show(role: str, text: str) -> None:
    print(_label(role) + text)


async def demo() -> None:
    """Two chat turns in one session (the second streamed), and the session API."""
    async with FakePathors() as fake, fake.client() as client:
        print(f"FakePathors emulator at {fake.url} (scripted, not a model)\n")
        history = [Message(role="user", content="Hello! Who am I talking to?")]
        _show("user", history[0].content or "")
        first = await client.chat.completions.create(messages=history)
        answer = first.choices[0].message
        _show("assistant", answer.content or "")
        session_id = first.session_id
        print(f"\n(the service started session {session_id}; the next turn continues it)\n")

        history += [answer, Message(role="user", content="Please remember my name is Ada.")]
        _show("user", history[-1].content or "")
        print(_label("assistant"), end="", flush=True)
        async with client.chat.completions.stream(
            messages=history, session_id=session_id
        ) as stream:
            async for text in stream.text_stream:
                print(text, end="", flush=True)
            second = await stream.get_final_completion()
        words = len((second.choices[0].message.content or "").split())
        print(f"\n(streamed word by word: {words} words, then [DONE])")

        state = await client.sessions.get(session_id or "")
        print(f"\nsession {state.session_id} holds {len(state.messages)} messages on the server")
        ended = await client.sessions.end(state.session_id)
        print(f"ended: {ended.success}")


async def serve(host: str, port: int, api_key: str, project_id: str) -> None:
    """Run the emulator until cancelled."""
    async with FakePathors(
        api_keys=(api_key,), project_id=project_id, host=host, port=port
    ) as fake:
        print(f"FakePathors listening on {fake.url}", flush=True)
        print(f"  project id: {project_id}\n  API key:    {api_key}  (an emulator key)")
        print(f"  chat URL:   {fake.url}/v1/projects/{project_id}/chat/completions")
        print("  press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathors-async", description="pathors_async: demo and local emulator"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the offline demo against the bundled emulator")
    emulator = commands.add_parser("emulator", help="serve the emulator on this machine")
    emulator.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    emulator.add_argument("--api-key", default="test-key", help="key to accept")
    emulator.add_argument("--project-id", default="test-project", help="project to serve")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = _parser().parse_args(argv)
    if args.command == "demo":
        asyncio.run(demo())
    else:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.host, args.port, args.api_key, args.project_id))
    return 0
