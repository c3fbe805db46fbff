"""1,000 conversations at once on one client, with a summary at the end.

One `AsyncPathors` holds one connection pool (`max_connections`, 100 by
default); every conversation shares it. A semaphore bounds how many turns are
in flight, and each conversation keeps its own session and transcript.

    python examples/concurrent_conversations.py            # 1,000 against the emulator
    python examples/concurrent_conversations.py 50         # fewer

Against the real service every turn is billed: set PATHORS_API_KEY and
PATHORS_PROJECT_ID and pass a small count on purpose (it refuses more than 20).
"""

import asyncio
import os
import statistics
import sys
import time
from collections import Counter

from pathors_async import Agent, AsyncPathors, PathorsError, RetryPolicy
from pathors_async.testing import FakePathors

IN_FLIGHT = 64  # turns running at the same time


async def one_user(agent: Agent, user: int, gate: asyncio.Semaphore) -> tuple[str, float]:
    """Two turns of one user's conversation; returns how it ended and how long it took."""
    conversation = agent.conversation(history="full")
    started = time.perf_counter()
    try:
        async with gate:
            await conversation.send(f"Hello, I am user {user}.")
        async with gate:
            result = await conversation.send("What did I just say?")
    except PathorsError as error:  # one user's failure never stops the others
        return type(error).__name__, time.perf_counter() - started
    if conversation.session_id != result.session_id:
        return "session changed", time.perf_counter() - started
    return "ok", time.perf_counter() - started


async def run_all(client: AsyncPathors, count: int) -> None:
    agent = Agent(client)
    gate = asyncio.Semaphore(IN_FLIGHT)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one_user(agent, user, gate) for user in range(count)))
    elapsed = time.perf_counter() - started
    kinds = Counter(kind for kind, _ in outcomes)
    durations = sorted(seconds for _, seconds in outcomes)
    print(f"conversations: {count}, turns: {2 * count}, outcomes: {dict(kinds)}")
    print(
        f"wall time {elapsed:.2f} s, {2 * count / elapsed:.0f} turns/s; per conversation: "
        f"median {statistics.median(durations):.3f} s, slowest {durations[-1]:.3f} s"
    )


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if os.environ.get("PATHORS_API_KEY"):
        if count > 20:  # a guard against a large bill by accident
            sys.exit("against the real service, pass a count of 20 or fewer")
        async with AsyncPathors() as client:
            await run_all(client, count)
        return
    async with FakePathors() as fake:
        # 1,000 conversations open many connections at once; retry briefly if one drops.
        async with fake.client(retry=RetryPolicy(max_retries=2, backoff_initial=0.05)) as client:
            await run_all(client, count)
        print(f"the emulator received {len(fake.requests)} requests, {len(fake.sessions)} sessions")


if __name__ == "__main__":
    asyncio.run(main())
