"""``pathors-async emulator``: serve the emulator until interrupted, one log line per request.

curl, our client or openai-python (base URL ``<url>/v1``) can then talk to it;
``--script FILE`` queues scripted replies and faults first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import sys
from typing import Any

from pathors_async.testing import FakePathors, RequestLog
from pathors_async.testing._script import ScriptError, apply_script, read_script

__all__ = ["add_parser", "run", "serve"]


def _print_log(entry: RequestLog) -> None:
    print(entry.line(), flush=True)


async def serve(args: argparse.Namespace) -> None:
    """Run the emulator until cancelled.

    Raises:
        ScriptError: The ``--script`` file is unreadable or malformed.
        OSError: The server could not listen (e.g. the port is taken).
    """
    fake = FakePathors(
        api_keys=(args.api_key,),
        project_id=args.project_id,
        host=args.host,
        port=args.port,
        on_request=None if args.quiet else _print_log,
    )
    steps = read_script(args.script) if args.script else []
    apply_script(fake, steps)
    async with fake:
        print(f"FakePathors listening on {fake.url}", flush=True)
        print(f"  project id: {args.project_id}\n  API key:    {args.api_key}  (an emulator key)")
        print(f"  chat URL:   {fake.url}/v1/projects/{args.project_id}/chat/completions")
        print(f"  OpenAI-style base URL: {fake.url}/v1  (the project {args.project_id})")
        if args.script:
            print(f"  script:     {len(steps)} steps from {args.script}")
        print("  press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def add_parser(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register ``emulator`` and its options."""
    emulator = commands.add_parser(
        "emulator",
        help="serve the emulator on this machine",
        description="Serve the Pathors emulator (FakePathors) until Ctrl-C, "
        "printing one line per request: method, path, session, status, ms.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    emulator.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    emulator.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    emulator.add_argument("--api-key", default="test-key", help="the key it accepts")
    emulator.add_argument("--project-id", default="test-project", help="the project it serves")
    emulator.add_argument(
        "--script",
        metavar="FILE",
        help="JSON (or YAML with PyYAML) list of replies and faults to queue, e.g. "
        '[{"reply": "Hi"}, {"fail_next": 503}]',
    )
    emulator.add_argument("--quiet", action="store_true", help="no log line per request")


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; the exit status (2: bad script or cannot listen)."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        if exc.errno == errno.EADDRINUSE:
            reason = f"port {args.port} is already in use (pick another with --port, or 0)"
        else:
            reason = exc.strerror or str(exc)
        print(f"error: cannot listen on {where}: {reason}", file=sys.stderr)
        return 2
    return 0
