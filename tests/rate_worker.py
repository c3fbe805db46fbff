"""A worker process for the cross-process rate-limit tests: ``python -m tests.rate_worker ...``.

    URL REDIS_URL PREFIX NAME RPM SECONDS CONCURRENCY [local]

It builds a client with ``RateLimit(requests_per_minute=RPM, shared=RedisStore(REDIS_URL,
prefix=PREFIX))`` (``local``: the same limit, not shared; the control case), sends
the header ``X-Worker: NAME``, prints "ready", waits for a line on stdin, then runs
CONCURRENCY tasks that each send requests one after another until SECONDS have
passed, and prints a JSON summary.
"""

from __future__ import annotations

# ruff: noqa: T201 - the worker talks to the test through its stdout
import asyncio
import json
import sys

from pathors_async import AsyncPathors, PathorsError, RateLimit
from pathors_async.stores import RedisStore


async def run(argv: list[str]) -> None:
    url, redis_url, prefix, name, rpm, seconds, concurrency, *mode = argv
    store = RedisStore(redis_url, prefix=prefix)
    shared = None if mode == ["local"] else store
    limit = RateLimit(requests_per_minute=float(rpm), shared=shared)
    client = AsyncPathors(
        api_key="test-key",
        project_id="test-project",
        base_url=url,
        rate_limit=limit,
        default_headers={"X-Worker": name},
    )
    sent = 0
    errors: list[str] = []
    async with client:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(seconds)

        async def send_until_deadline() -> None:
            nonlocal sent
            while loop.time() < deadline:
                try:
                    await client.chat.completions.create(
                        messages=[{"role": "user", "content": "hi"}]
                    )
                except PathorsError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                sent += 1

        await asyncio.gather(*(send_until_deadline() for _ in range(int(concurrency))))
    await store.aclose()
    print(json.dumps({"sent": sent, "errors": errors}), flush=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1:]))
