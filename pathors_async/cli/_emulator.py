"""``pathors-async emulator``: serve the emulator until interrupted.

curl or any OpenAI-compatible client can then talk to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from pathors_async.testing import FakePathors

__all__ = ["add_parser", "run", "serve"]


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


def add_parser(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register ``emulator`` and its options."""
    emulator = commands.add_parser("emulator", help="serve the emulator on this machine")
    emulator.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    emulator.add_argument("--api-key", default="test-key", help="key to accept")
    emulator.add_argument("--project-id", default="test-project", help="project to serve")


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; the exit status."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.api_key, args.project_id))
    return 0
