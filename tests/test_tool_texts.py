"""The README's table of what the model reads: each row is produced and compared word for word."""

import asyncio
import contextlib
import json
import pathlib
import re
import threading
from typing import Literal

import pytest

from pathors_async import FunctionCall, ToolCall, ToolContext, ToolFailure, ToolRegistry

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
ROWS = re.findall(r"^\| `([A-Z_]+)`(?: \(([^)]*)\))? \| `(.*?)`(?: \(.*\))? \|$", README, re.M)


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


def make_tools(*, timeout=None, weather_value="22 c", max_threads=8, hang=None):
    tools = ToolRegistry(max_threads=max_threads)

    @tools.tool(timeout=timeout)
    async def get_weather(location: str, unit: Literal["c", "f"] = "c") -> object:
        """Get the current weather."""
        if hang is not None:
            await hang()
        return weather_value

    @tools.tool(timeout=timeout)
    def lookup_order(order_id: int, ctx: ToolContext) -> dict:
        """Find an order."""
        if isinstance(ctx.deps, threading.Event):
            ctx.deps.wait()
        return {"id": order_id, "user": ctx.deps["user"]}

    return tools


async def forever():
    await asyncio.Event().wait()


async def ignore_one_cancellation():
    with contextlib.suppress(asyncio.CancelledError):
        await forever()
    await forever()  # the registry's aclose cancels it again


async def ignores_cancellation():
    tools = make_tools(timeout=0.01, hang=ignore_one_cancellation)
    result = await tools.dispatch(call("get_weather", '{"location": "x"}'))
    await tools.aclose()
    return result


async def sync_timeout():
    tools = make_tools(timeout=0.01)
    release = threading.Event()
    try:
        return await tools.dispatch(
            call("lookup_order", '{"order_id": 1}'), ToolContext(deps=release)
        )
    finally:
        release.set()


async def never_started():
    tools = make_tools(timeout=0.01)
    release = threading.Event()
    started = threading.Semaphore(0)

    @tools.tool
    def hold() -> str:
        started.release()
        release.wait()
        return "done"

    holding = [asyncio.create_task(tools.dispatch(call("hold"))) for _ in range(8)]
    for _ in range(8):
        await asyncio.to_thread(started.acquire)
    try:
        return await tools.dispatch(call("lookup_order", '{"order_id": 1}'), ToolContext(deps={}))
    finally:
        release.set()
        await asyncio.gather(*holding)


async def registry_closed():
    tools = make_tools()
    release = threading.Event()
    began = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Deps(threading.Event):
        def wait(self, timeout=None):
            loop.call_soon_threadsafe(began.set)
            return release.wait(timeout)

    caller = asyncio.create_task(
        tools.dispatch(call("lookup_order", '{"order_id": 1}'), ToolContext(deps=Deps()))
    )
    await began.wait()
    await tools.aclose()
    try:
        return await caller
    finally:
        release.set()


async def run_cancelled():
    tools = make_tools(hang=forever)
    batch = tools.dispatch_as_completed([call("get_weather", '{"location": "x"}')])
    [(_, result)] = batch.cancel()
    return result


def dispatch(arguments, name="get_weather", deps=None, **options):
    return lambda: make_tools(**options).dispatch(call(name, arguments), ToolContext(deps=deps))


# (failure, the row's note, a marker in the row's text, what produces it)
SCENARIOS = [
    ("UNKNOWN_TOOL", "", "", lambda: make_tools().dispatch(call("get_wether"))),
    ("TOO_LARGE", "", "", dispatch('{"location": "' + "x" * 2_000_008 + '"}')),
    ("INVALID_JSON", "", "Expecting", dispatch('{"location" "Taipei"}')),
    ("INVALID_JSON", "", "an array", dispatch('["Taipei"]')),
    ("INVALID_JSON", "", "NaN", dispatch('{"location": NaN}')),
    ("INVALID_JSON", "", "twice", dispatch('{"location": "a", "location": "b"}')),
    ("INVALID_JSON", "", "digits", dispatch('{"order_id": ' + "9" * 5000 + "}", "lookup_order")),
    ("INVALID_JSON", "", "nested", dispatch('{"location": ' + "[" * 70 + "]" * 70 + "}")),
    ("INVALID_ARGUMENTS", "", "", dispatch('{"unit": "k"}')),
    ("EXCEPTION", "", "KeyError", dispatch('{"order_id": 1}', "lookup_order", deps={})),
    ("EXCEPTION", "", "JSON", dispatch('{"location": "x"}', weather_value=float("nan"))),
    ("TIMEOUT", "async", "", dispatch('{"location": "x"}', timeout=0.01, hang=forever)),
    ("TIMEOUT", "async, ignores cancellation", "", ignores_cancellation),
    ("TIMEOUT", "sync", "", sync_timeout),
    ("TIMEOUT", "sync, never started", "", never_started),
    ("CANCELLED", "registry closed", "", registry_closed),
    ("CANCELLED", "run cancelled", "", run_cancelled),
]


def scenario(failure, note, text):
    [make] = [
        make
        for kind, row_note, marker, make in SCENARIOS
        if (kind, row_note) == (failure, note) and marker in text
    ]
    return make


def test_the_table_has_a_row_per_scenario():
    assert len(ROWS) == len(SCENARIOS)


@pytest.mark.parametrize(("failure", "note", "text"), ROWS, ids=[f"{r[0]}-{r[1]}" for r in ROWS])
async def test_each_readme_row_is_what_the_model_reads(failure, note, text):
    result = await scenario(failure, note, text)()
    expected = text.replace("\\n", "\n")
    # The table shows a 5 s timeout; the test uses 0.01 s so that it stays fast.
    assert result.failure is ToolFailure[failure]
    assert result.content.replace("0.01 s", "5 s") == expected
    assert json.dumps(result.content)
