"""A worker process for the cross-process store tests: ``python -m tests.store_worker ...``.

It talks to the parent through its pipes only: it prints a line when it reaches
a point the parent waits for, and waits for a line on stdin when the parent
must say "go".

    burst STORE URL KEY NAME COUNT   print "ready", wait for a line, then COUNT
                                     concurrent sends of "NAME-i" to KEY; print a
                                     JSON summary
    hold STORE URL KEY TTL           send to KEY; the model calls the tool
                                     "block", which prints "in-tool" and waits for
                                     a line; then print "saved" or "LeaseLost"
"""

from __future__ import annotations

# ruff: noqa: T201 - the worker talks to the test through its stdout
import asyncio
import json
import sys

from pathors_async import Agent, AsyncPathors, LeaseLost, ToolRegistry

from .stores_support import make_store


def client_for(url: str) -> AsyncPathors:
    return AsyncPathors(api_key="test-key", project_id="test-project", base_url=url)


async def burst(spec: str, url: str, key: str, name: str, count: int) -> None:
    store = make_store(spec)
    async with client_for(url) as client:
        conversations = Agent(client).conversations(store, lock_ttl=5, lock_wait=120)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(
            *(conversations.send(key, f"{name}-{i}") for i in range(count))
        )
    await store.aclose()
    print(json.dumps({"sent": count, "outputs": [result.output for result in results]}))


async def hold(spec: str, url: str, key: str, ttl: float) -> None:
    tools = ToolRegistry()

    @tools.tool
    def block() -> str:
        """Wait for the parent process."""
        print("in-tool", flush=True)
        sys.stdin.readline()
        return "done"

    store = make_store(spec)
    async with client_for(url) as client:
        conversations = Agent(client, tools=tools).conversations(store, lock_ttl=ttl)
        try:
            await conversations.send(key, "please block")
        except LeaseLost as exc:
            print("LeaseLost", len(exc.messages or ()), flush=True)
        else:
            print("saved", flush=True)
    await store.aclose()


def main(argv: list[str]) -> None:
    command, spec, url, key, *rest = argv
    if command == "burst":
        asyncio.run(burst(spec, url, key, rest[0], int(rest[1])))
    else:
        asyncio.run(hold(spec, url, key, float(rest[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
