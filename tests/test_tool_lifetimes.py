"""A registry's threads, timeouts and closing: callers are answered, never cancelled or held."""

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest

from pathors_async import FunctionCall, ToolCall, ToolFailure, ToolRegistry

from .test_cli import clean_env


def call(name, arguments="{}", call_id="call_1"):
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


async def test_worker_threads_are_daemons():
    registry = ToolRegistry()

    @registry.tool
    def where() -> bool:
        return threading.current_thread().daemon

    assert (await registry.dispatch(call("where"))).content == "true"
    await registry.aclose()


def test_a_hung_sync_tool_does_not_keep_the_process_alive(tmp_path):
    script = tmp_path / "hung.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, threading
            from pathors_async import FunctionCall, ToolCall, ToolRegistry

            tools = ToolRegistry(timeout=0.01)

            @tools.tool
            def hang() -> str:
                threading.Event().wait()
                return "never"

            async def main():
                call = ToolCall(id="c", function=FunctionCall(name="hang", arguments="{}"))
                print((await tools.dispatch(call)).failure.value, flush=True)

            asyncio.run(main())
            """
        ),
        encoding="utf-8",
    )
    # Without daemon threads the interpreter waits for the hung worker at exit:
    # the bound only stops a broken build from hanging the suite.
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "timeout\n", "")


async def test_a_sync_call_that_never_started_says_so():
    registry = ToolRegistry(max_threads=8)
    release = threading.Event()
    started = threading.Semaphore(0)

    @registry.tool
    def hang() -> str:
        started.release()
        release.wait()
        return "late"

    @registry.tool(timeout=0.05)
    def instant() -> str:
        return "now"

    hung = [asyncio.create_task(registry.dispatch(call("hang"))) for _ in range(8)]
    for _ in range(8):
        await asyncio.to_thread(started.acquire)
    try:
        results = await registry.dispatch_all([call("instant", call_id=f"c{i}") for i in range(5)])
    finally:
        release.set()
    assert {(r.failure, r.content) for r in results} == {
        (
            ToolFailure.TIMEOUT,
            (
                "The tool 'instant' did not start within 0.05 s because all 8 worker threads "
                "were busy, so it was not run. Try again later."
            ),
        )
    }
    assert [r.content for r in await asyncio.gather(*hung)] == ["late"] * 8
    await registry.aclose()


async def test_an_async_tool_that_swallows_cancellation_cannot_hold_dispatch():
    registry = ToolRegistry()
    done = False
    cancellations = 0

    @registry.tool(timeout=0.05)
    async def stubborn() -> str:
        nonlocal cancellations
        while not done:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:  # noqa: PERF203 - the point of the test
                cancellations += 1
        return "finally"

    # A safety bound: the old code waited for ever here.
    result = await asyncio.wait_for(registry.dispatch(call("stubborn")), 30)
    assert (result.failure, result.content) == (
        ToolFailure.TIMEOUT,
        (
            "The tool 'stubborn' did not finish within 0.05 s and did not stop when cancelled; "
            "its result will not be sent."
        ),
    )
    assert cancellations >= 1
    done = True
    await registry.aclose()


@pytest.mark.parametrize("kind", ["async", "sync", "timed"])
async def test_aclose_answers_calls_in_flight_as_cancelled_and_never_cancels_the_caller(kind):
    registry = ToolRegistry()
    started = threading.Event()
    release = threading.Event()
    loop = asyncio.get_running_loop()
    began = asyncio.Event()

    @registry.tool
    async def wait_async() -> str:
        began.set()
        await asyncio.Event().wait()
        return "never"

    @registry.tool(timeout=30)
    async def wait_timed() -> str:  # runs as a task of its own
        began.set()
        await asyncio.Event().wait()
        return "never"

    @registry.tool
    def wait_sync() -> str:
        loop.call_soon_threadsafe(began.set)
        started.set()
        release.wait()
        return "late"

    caller = asyncio.create_task(registry.dispatch(call(f"wait_{kind}")))
    await began.wait()
    await registry.aclose()
    result = await caller
    release.set()
    assert not caller.cancelled()
    assert (result.failure, result.content) == (
        ToolFailure.CANCELLED,
        (
            f"The tool 'wait_{kind}' was cancelled before it finished because its registry "
            "was closed; its result is unknown."
        ),
    )
    assert (result.tool_call_id, result.name) == ("call_1", f"wait_{kind}")


async def test_aclose_cancels_an_async_tool_and_lets_it_clean_up():
    registry = ToolRegistry()
    began, cleaned = asyncio.Event(), asyncio.Event()

    @registry.tool
    async def wait() -> str:
        began.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        return "never"

    caller = asyncio.create_task(registry.dispatch(call("wait")))
    await began.wait()
    await registry.aclose()
    assert (await caller).failure is ToolFailure.CANCELLED
    await cleaned.wait()


async def test_a_registry_is_usable_again_after_aclose():
    registry = ToolRegistry()

    @registry.tool
    def ping() -> str:
        return "pong"

    assert (await registry.dispatch(call("ping"))).content == "pong"
    await registry.aclose()
    await registry.aclose()
    assert (await registry.dispatch(call("ping"))).content == "pong"
    registry.close()


async def test_a_tool_that_returns_when_cancelled_by_aclose_is_still_answered_cancelled():
    registry = ToolRegistry()
    began = asyncio.Event()

    @registry.tool
    async def shrug() -> str:
        began.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "returned anyway"
        return "never"

    caller = asyncio.create_task(registry.dispatch(call("shrug")))
    await began.wait()
    await registry.aclose()
    result = await caller
    assert result.failure is ToolFailure.CANCELLED
    if sys.version_info >= (3, 11):  # the inline path took its cancellation back
        assert caller.cancelling() == 0


@pytest.mark.parametrize("turns_into", ["error", "value"])
async def test_a_tool_that_turns_the_callers_cancellation_into_something_else_is_still_cancelled(
    turns_into,
):
    registry = ToolRegistry()
    began = asyncio.Event()

    @registry.tool
    async def converts() -> str:
        began.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if turns_into == "error":
                raise RuntimeError("interrupted") from None
            return "a value"
        return "never"

    caller = asyncio.create_task(registry.dispatch(call("converts")))
    await began.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_aclose_withdraws_sync_calls_waiting_for_a_thread():
    registry = ToolRegistry(max_threads=1)
    release, started = threading.Event(), threading.Event()
    ran = []

    @registry.tool
    def hold() -> str:
        started.set()
        release.wait()
        return "held"

    @registry.tool
    def queued() -> str:
        ran.append("queued")  # pragma: no cover - withdrawn before a thread is free
        return "ran"

    holding = asyncio.create_task(registry.dispatch(call("hold")))
    await asyncio.to_thread(started.wait)
    waiting = asyncio.create_task(registry.dispatch(call("queued", call_id="call_2")))
    await asyncio.sleep(0)  # one loop turn: the task's first step runs (FIFO), submitting it
    assert len(registry._running) == 2
    await registry.aclose()
    release.set()
    results = await asyncio.gather(holding, waiting)
    assert [r.failure for r in results] == [ToolFailure.CANCELLED, ToolFailure.CANCELLED]
    assert ran == []
