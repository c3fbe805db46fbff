"""Client cost side by side: pathors_async, raw aiohttp and openai-python, one run.

The emulator runs in a separate process (``pathors-async emulator``), so what this
process spends is the client's own work: building requests, HTTP, parsing, models.
Three workloads, each at the same concurrency for every client:

- whole completions: many non-streamed chat turns;
- streams: chat turns streamed as about 120 chunks each;
- memory: Python heap allocated (tracemalloc peak) while 1,000 concurrent turns are
  in flight, per turn (``--heap-turns``).

openai-python comes from the optional ``bench`` extra; without it its rows are skipped::

    pip install -e '.[bench]'
    python benchmarks/bench_client.py [--requests N] [--streams N] [--concurrency C]

Times are wall clock for the whole batch, best of R runs; CPU time of this process
is shown too (the fairer figure on a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from _util import version

from pathors_async import AsyncPathors

if TYPE_CHECKING:
    from typing_extensions import Self

KEY = "bench-key"
PROJECT = "bench-project"
SHORT = [{"role": "user", "content": "hello"}]
LONG = [{"role": "user", "content": " ".join(f"word{n}" for n in range(110))}]


async def start_emulator() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "pathors_async", "emulator", "--port", "0"),
        *("--api-key", KEY, "--project-id", PROJECT),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert process.stdout is not None  # noqa: S101 - PIPE
    first = (await process.stdout.readline()).decode()
    match = re.search(r"(http://\S+)", first)
    if match is None:
        raise RuntimeError(f"the emulator did not start: {first!r}")
    return process, match.group(1)


async def gather_limited(count: int, concurrency: int, job: Callable[[], Awaitable[Any]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            await job()

    await asyncio.gather(*(one() for _ in range(count)))


# ---------------------------------------------------------------- the contenders


class Contender:
    name = ""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def complete(self) -> str:
        raise NotImplementedError

    async def stream(self) -> int:
        raise NotImplementedError


class Ours(Contender):
    name = "pathors_async"

    def __init__(self, url: str, concurrency: int) -> None:
        self.client = AsyncPathors(
            api_key=KEY, project_id=PROJECT, base_url=url, max_connections=concurrency
        )

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def complete(self) -> str:
        completion = await self.client.chat.completions.create(messages=SHORT)
        return completion.choices[0].message.content or ""

    async def stream(self) -> int:
        chunks = 0
        async with self.client.chat.completions.stream(messages=LONG) as stream:
            async for _ in stream:
                chunks += 1
            await stream.get_final_completion()
        return chunks


class RawAiohttp(Contender):
    """What a careful user writes with aiohttp alone: no models, no retries, no checks."""

    name = "raw aiohttp"

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = f"{url}/v1/projects/{PROJECT}/chat/completions"
        self.headers = {"Authorization": f"Bearer {KEY}"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def complete(self) -> str:
        async with self.session.post(
            self.url, json={"messages": SHORT}, headers=self.headers
        ) as response:
            data = await response.json()
        return str(data["choices"][0]["message"]["content"])

    async def stream(self) -> int:
        chunks, text = 0, []
        async with self.session.post(
            self.url, json={"messages": LONG, "stream": True}, headers=self.headers
        ) as response:
            async for line in response.content:
                if line.startswith(b"data: ") and line != b"data: [DONE]\n":
                    data = json.loads(line[6:])
                    text.append(data["choices"][0]["delta"].get("content") or "")
                    chunks += 1
        return chunks


class OpenAIPython(Contender):
    name = "openai-python"

    def __init__(self, url: str, concurrency: int) -> None:
        import openai  # noqa: PLC0415 - optional

        self.client = openai.AsyncOpenAI(
            api_key=KEY, base_url=f"{url}/v1/projects/{PROJECT}", max_retries=0
        )

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def complete(self) -> str:
        completion = await self.client.chat.completions.create(
            model="pathway",
            messages=SHORT,  # type: ignore[arg-type]
        )
        return completion.choices[0].message.content or ""

    async def stream(self) -> int:
        chunks = 0
        stream = await self.client.chat.completions.create(
            model="pathway",
            messages=LONG,  # type: ignore[arg-type]
            stream=True,
        )
        async for _ in stream:
            chunks += 1
        return chunks


# ---------------------------------------------------------------- measuring


async def timed(repeat: int, run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Best wall time and the CPU time of that run."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        cpu = time.process_time()
        wall = time.perf_counter()
        await run()
        elapsed = time.perf_counter() - wall
        if elapsed < best[0]:
            best = (elapsed, time.process_time() - cpu)
    return best


async def heap_per_turn(contender: Contender, turns: int) -> float:
    """Peak Python heap while `turns` whole completions are in flight at once, per turn."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    await asyncio.gather(*(contender.complete() for _ in range(turns)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / turns


async def measure(args: argparse.Namespace) -> None:
    emulator, url = await start_emulator()
    kinds: list[type[Contender]] = [RawAiohttp, Ours]
    if version("openai"):
        kinds.append(OpenAIPython)
    else:
        print("openai-python: not installed (pip install -e '.[bench]'); skipped\n")
    try:
        print(f"{'client':16} {'workload':36} {'per second':>11} {'CPU ms/turn':>12}")
        for kind in kinds:
            async with kind(url, args.concurrency) as contender:
                await gather_limited(50, args.concurrency, contender.complete)  # warm up
                wall, cpu = await timed(
                    args.repeat,
                    lambda c=contender: gather_limited(args.requests, args.concurrency, c.complete),
                )
                print(
                    f"{kind.name:16} {f'{args.requests} completions':36} "
                    f"{args.requests / wall:11,.0f} {cpu / args.requests * 1000:12.3f}"
                )
                chunks = await contender.stream()
                wall, cpu = await timed(
                    args.repeat,
                    lambda c=contender: gather_limited(args.streams, args.concurrency, c.stream),
                )
                print(
                    f"{kind.name:16} {f'{args.streams} streams x {chunks} chunks':36} "
                    f"{args.streams * chunks / wall:11,.0f} {cpu / args.streams * 1000:12.3f}"
                )
        heading = f"heap per in-flight turn ({args.heap_turns:,} at once)"
        print(f"\n{'client':16} {heading:>40}")
        for kind in kinds:
            async with kind(url, args.heap_turns) as contender:
                await contender.complete()
                per_turn = await heap_per_turn(contender, args.heap_turns)
                print(f"{kind.name:16} {per_turn / 1024:37.1f} KiB")
    finally:
        emulator.send_signal(signal.SIGINT)
        await emulator.communicate()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(this process's peak RSS over the whole run: {rss:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--heap-turns", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"emulator in its own process; concurrency {args.concurrency}; best of {args.repeat}; "
        f"aiohttp {aiohttp.__version__}, openai {version('openai') or '-'}\n"
    )
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
