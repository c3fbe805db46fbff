"""Thousands of runs at once, some cancelled; and the README's first pattern under load."""

import asyncio
import json
import pathlib
import subprocess
import sys
import threading

from pathors_async import Agent, AsyncPathors, ToolRegistry
from pathors_async.testing._responder import SCRIPTED

from .test_cli import clean_env

SCRIPT = pathlib.Path(__file__).parent / "stress_runs.py"


def test_two_thousand_runs_with_random_cancellation_leave_nothing_behind():
    # 2,000 runs at concurrency 200, 5% cancelled at a seeded random point; then 300
    # more with asyncio's debug mode on (it costs ~4x CPU, so on a smaller pass).
    arguments = ["2000", "200", "0.05", "1234", "nodebug", "300", "100", "0.05", "99", "debug"]
    process = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
    )
    assert process.stderr == ""  # no warning, no "Task was destroyed", no unclosed resource
    assert process.returncode == 0
    summaries = [json.loads(line) for line in process.stdout.splitlines()]
    assert [s["debug"] for s in summaries] == [False, True]
    for summary in summaries:
        assert summary["cancelled"] > 0
        assert summary["ok"] + summary["cancelled"] == summary["runs"]
        assert (summary["invalid"], summary["failed"], summary["errors"]) == (0, 0, [])
        assert summary["acquired"] == 0  # every connection back in the pool
        assert summary["pending_tasks"] == 0
        assert summary["extra_threads"] == []


# The README's first example, as a web app would run it: one module-level registry,
# one client per request, each closed with `async with`. Half the requests call a sync
# tool that waits until every other request has closed its client: a client that
# closed the shared registry would cancel the calls still queued for its threads.
readme_tools = ToolRegistry()
others_closed = threading.Event()


@readme_tools.tool
async def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"22°C and sunny in {city}"


@readme_tools.tool
def get_time(city: str) -> str:
    """Get the local time in a city (a sync tool: it runs on the registry's threads)."""
    others_closed.wait(timeout=60)
    return f"10:00 in {city}"


async def test_the_readme_pattern_serves_two_hundred_requests_at_once(fake, retries):
    closed = []

    async def handle_request(number):
        topic = "weather" if number % 2 else "time"
        try:
            async with AsyncPathors(
                api_key=fake.api_key, project_id=fake.project_id, base_url=fake.url
            ) as client:
                result = await Agent(client, tools=readme_tools).run(
                    f"What's the {topic} in City{number}?"
                )
            return result.output
        finally:
            if topic == "weather":
                closed.append(number)
                if len(closed) == 100:
                    others_closed.set()

    try:
        outputs = await asyncio.gather(
            *(handle_request(n) for n in range(200)), return_exceptions=True
        )
    finally:
        others_closed.set()
        readme_tools.close()
    failures = [o for o in outputs if not isinstance(o, str)]
    assert failures == []
    assert outputs[1] == f"{SCRIPTED} Tool results: get_weather: 22°C and sunny in City1"
    assert outputs[2] == f"{SCRIPTED} Tool results: get_time: 10:00 in City2"
