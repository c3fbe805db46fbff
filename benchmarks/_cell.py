"""One cell of `make bench` for one client, in a fresh process; prints its result as JSON.

    python benchmarks/_cell.py CELL CLIENT [--url URL] [--duration S] [--quick]

CELL is a key of `CELLS`; CLIENT is ``pure``, ``speedups``, ``raw``, ``openai`` (and
``httpx-sse`` for the ``sse`` cell). The network cells run against the lean server:
`concurrency` workers, each repeating the job until the time is up (every worker does at
least one), after a short warm-up that opens the connections; the duration is split into
`WINDOWS` windows and the best one is reported (the least disturbed by other work on the
machine), every window's rate kept in the JSON. Every answer is checked; a wrong one ends
the process with exit 1 and says what arrived. The result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from _clients import CONTENDERS, Contender
from _server import FINAL, STREAM_CHUNKS, TEXT, raise_file_limit, stream_words
from _util import version

STREAM_TEXT = "".join(stream_words())
WINDOWS = 3  # a network cell's duration is split into this many windows; the best counts


class WrongAnswer(Exception):  # noqa: N818 - what it is
    """A cell received something other than what the server was asked for."""


@dataclass(frozen=True)
class Cell:
    """One measurement: which job, at which concurrency."""

    kind: str
    concurrency: int = 1


CELLS = {
    "complete-1": Cell("complete", 1),
    "complete-16": Cell("complete", 16),
    "complete-128": Cell("complete", 128),
    "stream-1": Cell("stream", 1),
    "stream-64": Cell("stream", 64),
    "tools-64": Cell("tools", 64),
    "tools-stream-64": Cell("tools-stream", 64),
    "held-1000": Cell("held", 1000),
    "sse": Cell("sse"),
    "dispatch": Cell("dispatch"),
}


def expect(what: str, expected: object, got: object) -> None:
    """Raise `WrongAnswer` unless `got` is `expected`; long texts are cut where they differ."""
    if got == expected:
        return
    if isinstance(expected, str) and isinstance(got, str):
        at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
        at = min(len(expected), len(got)) if at is None else at
        start = max(at - 20, 0)
        raise WrongAnswer(
            f"{what} differs at character {at}: expected …{expected[start : at + 40]!r}…, "
            f"got …{got[start : at + 40]!r}… ({len(expected)} and {len(got)} characters)"
        )
    raise WrongAnswer(f"{what}: expected {expected!r}, got {got!r}")


@dataclass
class Window:
    ops: int
    seconds: float
    cpu: float


async def window(job: Callable[[], Awaitable[None]], concurrency: int, duration: float) -> Window:
    """Run `job` on `concurrency` workers until `duration` seconds are up."""
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + duration

    async def worker() -> int:
        done = 0
        while True:
            await job()
            done += 1
            if time.perf_counter() >= deadline:
                return done

    counts = await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Window(sum(counts), time.perf_counter() - start, time.process_time() - cpu)


async def server_get(url: str, path: str, method: str = "GET") -> str:
    """A one-off request to the server's control paths, outside the client under test."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
    length = int(head.split("content-length:")[1].split("\r\n")[0])
    body = await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
    return body.decode()


async def measured(
    url: str,
    job: Callable[[], Awaitable[None]],
    concurrency: int,
    duration: float,
    samples: list[float] | None = None,
) -> dict[str, Any]:
    """Warm up, then `WINDOWS` windows sharing `duration`; the best, with the server's CPU share.

    The best window is the least disturbed by the rest of the machine (as `timeit` takes
    the minimum); every window's rate is kept in ``window_ops_per_s``. `samples`, when given,
    is emptied at each window's start; the best window's samples come back as ``samples``.
    """
    await window(job, concurrency, min(duration / 10, 0.3))
    best: dict[str, Any] = {}
    rates = []
    for _ in range(WINDOWS):
        if samples is not None:
            samples.clear()
        server_before = float(await server_get(url, "/__cpu"))
        result = await window(job, concurrency, duration / WINDOWS)
        server = float(await server_get(url, "/__cpu")) - server_before
        rates.append(result.ops / result.seconds)
        if rates[-1] == max(rates):
            best = {
                "ops": result.ops,
                "seconds": result.seconds,
                "client_cpu": result.cpu,
                "server_share": server / result.seconds,
                **({"samples": list(samples)} if samples is not None else {}),
            }
    return {**best, "window_ops_per_s": rates}


async def network_cell(
    kind: str, concurrency: int, contender: Contender, url: str, duration: float
) -> dict[str, Any]:
    """Requests, streams or tool loops for `duration` seconds on `concurrency` workers."""
    if kind == "complete":

        async def job() -> None:
            expect("the answer", TEXT, await contender.complete())

        out = await measured(url, job, concurrency, duration)
        return {
            **out,
            "rate": out["ops"] / out["seconds"],
            "cpu_us": out["client_cpu"] / out["ops"] * 1e6,
        }
    if kind == "stream":
        return await stream_cell(concurrency, contender, url, duration)
    streamed = kind == "tools-stream"

    async def loop() -> None:
        expect("the tool loop's answer", FINAL, await contender.tool_loop(streamed=streamed))

    out = await measured(url, loop, concurrency, duration)
    return {
        **out,
        "rate": out["ops"] / out["seconds"],
        "cpu_us": out["client_cpu"] / out["ops"] * 1e6,
    }


async def stream_cell(
    concurrency: int, contender: Contender, url: str, duration: float
) -> dict[str, Any]:
    firsts: list[float] = []

    async def job() -> None:
        start = time.perf_counter()
        chunks, text = await contender.stream(lambda: firsts.append(time.perf_counter() - start))
        expect("the chunk count", STREAM_CHUNKS, chunks)
        expect("the streamed text", STREAM_TEXT, text)

    await job()  # the first request pays for the imports; the warm-up opens the pool
    out = await measured(url, job, concurrency, duration, firsts)
    chunks = out["ops"] * STREAM_CHUNKS
    firsts = out.pop("samples")
    return {
        **out,
        "rate": chunks / out["seconds"],
        "cpu_us": out["client_cpu"] / chunks * 1e6,
        "ttfc_ms": statistics.median(firsts) * 1e3,
    }


def rss() -> int:
    """This process's resident memory in bytes (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:  # noqa: PTH123
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def held_cell(contender: Contender, url: str, count: int) -> dict[str, Any]:
    """RSS per open stream: `count` streams past their first chunk at once, then released."""
    await contender.stream(lambda: None)
    gc.collect()
    before = rss()
    opened = 0
    all_open = asyncio.Event()

    def on_first() -> None:
        nonlocal opened
        opened += 1
        if opened == count:
            all_open.set()

    streams = [asyncio.create_task(contender.stream(on_first, held=True)) for _ in range(count)]
    waiting = asyncio.create_task(all_open.wait())
    done, _ = await asyncio.wait([waiting, *streams], return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        waiting.cancel()
        await next(iter(done))  # a stream ended before all were open: raise what it raised
        raise WrongAnswer("a held stream ended before the server was told to finish it")
    gc.collect()
    during = rss()
    await server_get(url, "/__release", "POST")
    for chunks, text in await asyncio.gather(*streams):
        expect("the held stream's chunk count", STREAM_CHUNKS, chunks)
        expect("the held stream's text", STREAM_TEXT, text)
    return {
        "streams": count,
        "rss_before": before,
        "rss_open": during,
        "kib": (during - before) / count / 1024,
    }


def sse_cell(client: str, events: int, repeat: int) -> dict[str, Any]:
    """Decode `events` chunk events in 16 KiB reads; events/s, best of `repeat`."""
    from bench_sse import httpx_sse, make_stream, openai_sse, ours, reads_of  # noqa: PLC0415

    decoders: dict[str, Callable[[list[bytes]], int]] = {
        "pure": ours,
        "speedups": ours,
        "raw": raw_split,
        "openai": openai_sse,
        "httpx-sse": httpx_sse,
    }
    reads = reads_of(make_stream(events))
    best = float("inf")
    decoders[client](reads)  # warm up: imports, caches
    for _ in range(repeat):
        start = time.perf_counter()
        count = decoders[client](reads)
        best = min(best, time.perf_counter() - start)
        expect("the event count", events + 2, count)  # the last chunk and [DONE] too
    return {"events": events, "seconds": best, "rate": (events + 2) / best}


def raw_split(reads: list[bytes]) -> int:
    """A minimal hand-written SSE split: events end at a blank line; keep the ``data:`` ones."""
    buffer, count = b"", 0
    for data in reads:
        *events, buffer = (buffer + data).split(b"\n\n")
        count += sum(1 for event in events if event.startswith(b"data: "))
    return count


async def dispatch_cell(calls: int, repeat: int) -> dict[str, Any]:
    """Tool dispatch µs per call (parse, validate, call, answer), async and sync tools."""
    from pathors_async import FunctionCall, ToolCall, ToolRegistry  # noqa: PLC0415

    tools = ToolRegistry()

    @tools.tool
    async def forecast(location: str, days: int = 1) -> str:
        """Get the forecast."""
        return location

    @tools.tool
    def forecast_sync(location: str, days: int = 1) -> str:
        """Get the forecast, from blocking code."""
        return location

    out: dict[str, Any] = {}
    for name, count in (("forecast", calls), ("forecast_sync", max(calls // 5, 1))):
        call = ToolCall(
            id="c1", function=FunctionCall(name=name, arguments='{"location": "Taipei", "days": 3}')
        )
        best = float("inf")
        for _ in range(repeat + 1):  # the first run warms up
            start = time.perf_counter()
            for _ in range(count):
                answer = await tools.dispatch(call)
            best = min(best, (time.perf_counter() - start) / count)
            expect("the tool's answer", ("Taipei", None), (answer.content, answer.failure))
        out["async_us" if name == "forecast" else "sync_us"] = best * 1e6
    tools.close()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cell = CELLS[args.cell]
    if cell.kind == "sse":
        return sse_cell(args.client, 2_000 if args.quick else 100_000, 1 if args.quick else 3)
    if cell.kind == "dispatch":
        return await dispatch_cell(300 if args.quick else 20_000, 1 if args.quick else 3)
    # --quick: every path, few workers (20 held streams, at most 8 at once otherwise)
    concurrency = (
        min(cell.concurrency, 20 if cell.kind == "held" else 8) if args.quick else cell.concurrency
    )
    contender = CONTENDERS[args.client](args.url, concurrency)
    try:
        if cell.kind == "held":
            return await held_cell(contender, args.url, concurrency)
        result = await network_cell(cell.kind, concurrency, contender, args.url, args.duration)
        return {**result, "concurrency": concurrency}
    finally:
        await contender.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cell", choices=sorted(CELLS))
    parser.add_argument("client", choices=[*CONTENDERS, "httpx-sse"])
    parser.add_argument("--url", default="")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    raise_file_limit()
    try:
        result = asyncio.run(run(args))
    except WrongAnswer as exc:
        print(f"wrong answer in {args.cell} for {args.client}: {exc}", file=sys.stderr)
        sys.exit(1)
    result["orjson"] = version("orjson")
    result["pure"] = os.environ.get("PATHORS_ASYNC_PURE") == "1"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
