"""Many agent runs at once, some cancelled: nothing may be left behind.

Run by tests/test_stress.py in a subprocess under ``python -X dev -W error``;
prints one JSON line with what it found. Cancellation points are chosen by a
seeded random number of event-loop steps, not by time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import threading
from typing import Any

from pathors_async import Agent, ToolRegistry
from pathors_async.testing import FakePathors
from pathors_async.testing._responder import SCRIPTED


def valid(messages: list[Any]) -> bool:
    """Whether every tool call is answered right after the message that made it."""
    for position, message in enumerate(messages):
        if message.role == "assistant" and message.tool_calls:
            ids = [call.id for call in message.tool_calls]
            answers = messages[position + 1 : position + 1 + len(ids)]
            if [(a.role, a.tool_call_id) for a in answers] != [("tool", i) for i in ids]:
                return False
    return True


def make_tools() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool
    async def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        await asyncio.sleep(0)
        return f"sunny in {city}"

    @tools.tool
    def get_time(city: str) -> str:
        """Get the local time in a city (a sync tool, in a worker thread)."""
        return f"10:00 in {city}"

    return tools


async def one_run(agent: Agent, number: int, outcome: dict[str, Any]) -> None:
    topic = "weather" if number % 2 else "time"
    question = f"What is the {topic} in City{number}?"
    kind = number % 3
    if kind == 0:
        outcome["messages"] = list
        result = await agent.run(question)
    elif kind == 1:
        async with agent.run_stream(question) as run:
            outcome["messages"] = lambda: run.messages
            async for _ in run:
                pass
        result = run.result
    else:
        conversation = agent.conversation()
        outcome["messages"] = lambda: conversation.messages
        result = await conversation.send(question)
    expected = "sunny" if topic == "weather" else "10:00"
    outcome["ok"] = (
        result.output == f"{SCRIPTED} Tool results: get_{topic}: {expected} in City{number}"
    )


async def cancel_after(task: asyncio.Task[None], steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()


async def main(runs: int, concurrency: int, cancel_rate: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - reproducible choices, not secrets
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 5.0  # a loaded 2-core machine; slowness is not the point
    errors: list[str] = []
    loop.set_exception_handler(lambda _, context: errors.append(str(context.get("message"))))
    summary = {"runs": runs, "ok": 0, "cancelled": 0, "invalid": 0, "failed": 0}
    tools = make_tools()
    async with FakePathors() as fake:
        client = fake.client(max_connections=100)
        agent = Agent(client, tools=tools)
        limit = asyncio.Semaphore(concurrency)

        async def one(number: int) -> None:
            async with limit:
                outcome: dict[str, Any] = {"messages": list}
                task = asyncio.create_task(one_run(agent, number, outcome))
                killer = None
                if rng.random() < cancel_rate:
                    killer = asyncio.create_task(cancel_after(task, rng.randint(0, 60)))
                try:
                    await task
                except asyncio.CancelledError:
                    summary["cancelled"] += 1
                    summary["invalid"] += not valid(outcome["messages"]())
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    summary["failed"] += 1
                    errors.append(repr(exc))
                else:
                    summary["ok"] += outcome["ok"]
                if killer is not None:
                    await killer

        await asyncio.gather(*(one(number) for number in range(runs)))
        summary["acquired"] = len(client._transport.http_session.connector._acquired)
        await client.aclose()
    tools.close()
    summary["pending_tasks"] = len(asyncio.all_tasks() - {asyncio.current_task()})
    summary["errors"] = errors[:5]
    return summary


def run(argv: list[str]) -> None:
    """Run `main` once per pass and print each summary, with the threads left after it.

    Arguments: runs, concurrency, cancel rate, seed, then ``debug`` or ``nodebug``
    (asyncio's debug mode, which ``-X dev`` turns on, costs about 4x CPU), and
    again for each further pass.
    """
    logging.basicConfig(level=logging.WARNING)
    while argv:
        before = set(threading.enumerate())
        runs, concurrency, rate, seed, mode = argv[:5]
        argv = argv[5:]
        summary = asyncio.run(
            main(int(runs), int(concurrency), float(rate), int(seed)), debug=mode == "debug"
        )
        for thread in set(threading.enumerate()) - before:
            if thread.name.startswith("pathors-tool"):
                thread.join(timeout=30)  # shut down: it ends once its last item is done
        summary["extra_threads"] = sorted(t.name for t in set(threading.enumerate()) - before)
        summary["debug"] = mode == "debug"
        print(json.dumps(summary), flush=True)  # noqa: T201 - the parent test reads it


if __name__ == "__main__":
    run(sys.argv[1:])
