"""Batch throughput: two-turn conversations per second through `run_batch`.

A lean server runs in its own process (a raw asyncio protocol answering every POST
with one pre-encoded chat completion, keep-alive), so what this process spends is
the SDK's own work: reading the JSONL, two agent turns per item on one
`Conversation`, the result lines written and flushed.

    python benchmarks/bench_batch.py [--items N] [--concurrency C] [--repeat R]

Target: >= 1,000 conversations/s at concurrency 200 for 2,000 items.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pathors_async import Agent, AsyncPathors
from pathors_async.batch import run_batch

KEY = "bench-key"
PROJECT = "bench-project"
TARGET = 1000.0

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "lean",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Noted. Anything else?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "session_id": "bench-session",
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Session-ID: bench-session\r\n"
    + f"Content-Length: {len(COMPLETION)}\r\n\r\n".encode()
    + COMPLETION
)


class LeanProtocol(asyncio.Protocol):
    """Answers each request (head + Content-Length body) with RESPONSE; keeps the connection."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport if isinstance(transport, asyncio.Transport) else None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.transport is not None:
                self.transport.write(RESPONSE)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(LeanProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


async def start_server() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    if process.stdout is None:
        raise RuntimeError("the server process has no stdout")
    url = (await process.stdout.readline()).decode().strip()
    return process, url


def write_input(path: Path, items: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(items):
            turns = [f"Hi, this is customer {n}.", "What happens next?"]
            out.write(json.dumps({"id": n, "turns": turns}) + "\n")


async def one_run(url: str, workdir: Path, items: int, concurrency: int) -> tuple[float, float]:
    output = workdir / "out.jsonl"
    output.unlink(missing_ok=True)
    client = AsyncPathors(
        api_key=KEY, project_id=PROJECT, base_url=url, max_connections=concurrency
    )
    async with client:
        agent = Agent(client)
        cpu, wall = time.process_time(), time.perf_counter()
        summary = await run_batch(agent, workdir / "in.jsonl", output, concurrency=concurrency)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if summary.ok != items:
        raise RuntimeError("\n".join(summary.lines()))
    return wall, cpu


async def bench(items: int, concurrency: int, repeat: int) -> None:
    process, url = await start_server()
    try:
        with tempfile.TemporaryDirectory() as directory:
            workdir = Path(directory)
            write_input(workdir / "in.jsonl", items)
            runs = [await one_run(url, workdir, items, concurrency) for _ in range(repeat)]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        await process.wait()
    wall, cpu = min(runs)
    rate = items / wall
    pure = " (PATHORS_ASYNC_PURE=1)" if os.environ.get("PATHORS_ASYNC_PURE") else ""
    print(f"run_batch{pure}: {items:,} two-turn conversations at concurrency {concurrency}")
    print(f"  best of {repeat}: {wall:.2f} s wall, {cpu:.2f} s CPU -> {rate:,.0f} conversations/s")
    print(f"  ({2 * items / wall:,.0f} requests/s; {wall / items * 1e6:,.0f} µs per conversation)")
    verdict = "met" if rate >= TARGET else "NOT met"
    print(f"target: >= {TARGET:,.0f} conversations/s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
    else:
        asyncio.run(bench(args.items, args.concurrency, args.repeat))


if __name__ == "__main__":
    main()
