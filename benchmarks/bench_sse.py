"""SSE decoding speed, side by side: pathors_async, httpx-sse and openai-python.

Decodes 100,000 OpenAI-style ``chat.completion.chunk`` events (about 150 bytes of
JSON each) delivered in 16 KiB reads, as a socket would hand them over, and
prints events/s and MB/s for each decoder, the cost of ``json.loads`` alone, and
the whole per-chunk path of a `ChatCompletionStream` (decode + JSON + model +
accumulate). The others come from the optional ``bench`` extra::

    pip install -e '.[bench]'
    python benchmarks/bench_sse.py [--events N] [--repeat R]

Each figure is the best of R runs (the least disturbed by the rest of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import platform
import time
from collections.abc import Callable
from typing import Any

from _util import version

from pathors_async import _json
from pathors_async._sse import SSEDecoder
from pathors_async._stream import from_bytes

READ_SIZE = 16 * 1024


def make_stream(events: int) -> bytes:
    """Build the stream: OpenAI-style chunks with a short text delta each, then [DONE]."""
    pieces = []
    for number in range(events):
        chunk = {
            "id": "chatcmpl-abc123",
            "object": "chat.completion.chunk",
            "created": 1677858242,
            "model": "pathway-default",
            "choices": [
                {"index": 0, "delta": {"content": f"w{number % 997} "}, "finish_reason": None}
            ],
        }
        pieces.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    final = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1677858242,
        "model": "pathway-default",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    pieces.append(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
    return b"".join(pieces)


def reads_of(stream: bytes) -> list[bytes]:
    return [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]


def ours(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for data in reads:
        count += len(decoder.feed(data))
    return count + len(decoder.close())


def httpx_sse(reads: list[bytes]) -> int:
    from httpx_sse._decoders import SSEDecoder as HttpxDecoder  # noqa: PLC0415
    from httpx_sse._decoders import SSELineDecoder  # noqa: PLC0415

    # What httpx-sse does over a response: incremental UTF-8, its line splitter, its decoder.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines, decoder = SSELineDecoder(), HttpxDecoder()
    count = 0
    for data in reads:
        for line in lines.decode(text.decode(data)):
            count += decoder.decode(line) is not None
    for line in lines.flush():
        count += decoder.decode(line) is not None
    return count


def openai_sse(reads: list[bytes]) -> int:
    from openai._streaming import SSEDecoder as OpenAIDecoder  # noqa: PLC0415

    return sum(1 for _ in OpenAIDecoder().iter_bytes(iter(reads)))


def json_only(payloads: list[str]) -> int:
    loads = json.loads
    for payload in payloads:
        loads(payload)
    return len(payloads)


def our_json_only(payloads: list[str]) -> int:
    loads = _json.loads
    for payload in payloads:
        loads(payload)
    return len(payloads)


def whole_path(reads: list[bytes]) -> int:
    """Our real per-chunk path: decoder, json.loads, the chunk model, the accumulator."""

    async def run() -> int:
        stream = from_bytes(reads)
        count = 0
        async for _ in stream:
            count += 1
        await stream.get_final_completion()
        return count

    return asyncio.run(run())


def openai_whole_path(reads: list[bytes]) -> int:
    """openai-python's per-chunk path: its decoder, JSON, model construction, stream state."""
    from openai._models import construct_type  # noqa: PLC0415
    from openai._streaming import SSEDecoder as OpenAIDecoder  # noqa: PLC0415
    from openai.lib.streaming.chat import ChatCompletionStreamState  # noqa: PLC0415
    from openai.types.chat import ChatCompletionChunk as OpenAIChunk  # noqa: PLC0415

    state = ChatCompletionStreamState()
    count = 0
    for event in OpenAIDecoder().iter_bytes(iter(reads)):
        if event.data.startswith("[DONE]"):
            break
        state.handle_chunk(construct_type(type_=OpenAIChunk, value=event.json()))
        count += 1
    state.get_final_completion()
    return count


def best_of(repeat: int, function: Callable[[Any], int], argument: Any) -> tuple[float, int]:  # noqa: ANN401
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = function(argument)
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    stream = make_stream(args.events)
    reads = reads_of(stream)
    megabytes = len(stream) / 1e6
    payloads = [event.data for event in SSEDecoder().feed(stream)][:-1]
    print(
        f"{args.events:,} events, {len(stream) / (args.events + 1):.0f} bytes each on the wire "
        f"(JSON {sum(map(len, payloads)) / len(payloads):.0f}), {len(reads)} reads of 16 KiB; "
        f"Python {platform.python_version()}, best of {args.repeat}\n"
    )
    rows: list[tuple[str, float, int]] = []
    contenders: list[tuple[str, Callable[[list[bytes]], int], str | None]] = [
        ("pathors_async SSEDecoder", ours, "pathors-async"),
        ("httpx-sse", httpx_sse, "httpx-sse"),
        ("openai-python SSEDecoder", openai_sse, "openai"),
    ]
    for name, function, package in contenders:
        installed = version(package or "")
        if installed is None:
            print(f"{name}: not installed (pip install -e '.[bench]')")
            continue
        seconds, count = best_of(args.repeat, function, reads)
        rows.append((f"{name} {installed}", seconds, count))

    baseline = next((seconds for name, seconds, _ in rows if name.startswith("httpx-sse")), None)
    print(f"{'decoder':34} {'events/s':>12} {'MB/s':>8} {'vs httpx-sse':>13}")
    for name, seconds, count in rows:
        ratio = f"{baseline / seconds:.2f}x" if baseline else "-"
        print(f"{name:34} {count / seconds:12,.0f} {megabytes / seconds:8.1f} {ratio:>13}")

    seconds, count = best_of(args.repeat, json_only, payloads)
    per_payload = seconds / count * 1e6
    print(f"\njson.loads alone: {count / seconds:,.0f} payloads/s, {per_payload:.2f} µs each")
    seconds, count = best_of(args.repeat, our_json_only, payloads)
    per_payload = seconds / count * 1e6
    print(
        f"pathors_async _json.loads ({_json.BACKEND}; PATHORS_ASYNC_PURE=1 for json): "
        f"{count / seconds:,.0f} payloads/s, {per_payload:.2f} µs each"
    )
    print("\nwhole path per chunk (decode + JSON + model + accumulate):")
    paths = [("pathors_async ChatCompletionStream", whole_path, "pathors-async")]
    paths.append(("openai-python Stream + StreamState", openai_whole_path, "openai"))
    for name, function, package in paths:
        if version(package) is None:
            print(f"  {name}: not installed (pip install -e '.[bench]')")
            continue
        seconds, count = best_of(args.repeat, function, reads)
        print(f"  {name:36} {seconds / count * 1e6:6.2f} µs  {count / seconds:10,.0f} chunks/s")


if __name__ == "__main__":
    main()
