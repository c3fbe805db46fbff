"""Tool dispatch overhead per call: parse + validate + call + serialise.

A three-field schema; the tools do no work of their own, so what is timed is the
dispatcher: JSON parsing (with the checks for hostile input), validation (the
fast check for flat schemas; jsonschema, built once per tool, only when it says
no or the schema is not flat), building the call, running it (awaited, or on the
worker pool for a sync tool), and writing the result as the ``tool`` message.
For scale, the same run times the pieces alone (``json.loads``, the fast check,
the jsonschema check it saves) and a bare await.

    python benchmarks/bench_tools.py [--calls N] [--repeat R]

Target: at most 30 µs per async dispatch on this project's machine. Each figure is
the best of R runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pathors_async import FunctionCall, ToolCall, ToolRegistry

ARGUMENTS = '{"location": "Taipei", "unit": "c", "days": 3}'


def make_registry() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool
    async def forecast(location: str, unit: Literal["c", "f"] = "c", days: int = 1) -> str:
        """Get the forecast.

        Args:
            location: City name.
            unit: Temperature unit.
            days: How many days ahead.
        """
        return location

    @tools.tool
    def forecast_sync(location: str, unit: Literal["c", "f"] = "c", days: int = 1) -> str:
        """Get the forecast, from blocking code."""
        return location

    return tools


async def per_call(calls: int, step: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await step()
    return (time.perf_counter() - start) / calls


async def measure(calls: int, repeat: int) -> list[tuple[str, float]]:
    tools = make_registry()
    async_call = ToolCall(id="c1", function=FunctionCall(name="forecast", arguments=ARGUMENTS))
    sync_call = ToolCall(id="c2", function=FunctionCall(name="forecast_sync", arguments=ARGUMENTS))
    forecast = tools.get("forecast")
    assert forecast is not None  # noqa: S101 - registered above
    validator = forecast._validator  # noqa: SLF001 - to time the check alone
    fast = forecast._fast  # noqa: SLF001 - same
    assert fast is not None  # noqa: S101 - a flat schema
    parsed = json.loads(ARGUMENTS)

    async def nothing() -> None:
        return None

    async def loads() -> None:
        json.loads(ARGUMENTS)

    async def validate() -> None:
        validator.is_valid(parsed)

    async def fast_check() -> None:
        fast(parsed)

    steps: list[tuple[str, Callable[[], Awaitable[object]], int]] = [
        ("dispatch, async tool", lambda: tools.dispatch(async_call), calls),
        ("dispatch, sync tool (worker thread)", lambda: tools.dispatch(sync_call), calls // 5),
        ("  of which json.loads", loads, calls),
        ("  of which the fast check", fast_check, calls),
        ("  (jsonschema is_valid, skipped)", validate, calls),
        ("  bare await of a no-op coroutine", nothing, calls),
    ]
    results = []
    for name, step, count in steps:
        await per_call(min(count, 200), step)  # warm up
        best = min([await per_call(count, step) for _ in range(repeat)])
        results.append((name, best))
    tools.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{args.calls:,} calls, arguments {ARGUMENTS}; Python {platform.python_version()}, "
        f"best of {args.repeat}\n"
    )
    print(f"{'step':40} {'µs per call':>12}")
    for name, seconds in asyncio.run(measure(args.calls, args.repeat)):
        print(f"{name:40} {seconds * 1e6:12.2f}")
    print("\ntarget: dispatch, async tool <= 30 µs")


if __name__ == "__main__":
    main()
