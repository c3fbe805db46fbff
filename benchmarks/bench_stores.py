"""What a conversation store costs per turn: MemoryStore, SQLiteStore and RedisStore.

1. The store alone: take the lease with the conversation, then save it and
   release (what `Conversations.send` adds to a turn), on a 20-message
   conversation: wall time and client CPU per turn; for Redis, the round trips
   per turn as the server counts them (``MONITOR``, which tells a client's
   commands from those its Lua scripts run; ``INFO`` counts both alike).
2. Whole turns against the emulator (in its own process): one hot key (every
   turn waits for the one before), and many distinct keys at a concurrency, each
   beside the same runs with no store (conversations kept in a dict; the hot key
   behind an `asyncio.Lock`), with the CPU each process used per turn. The rounds
   are interleaved; turns/s is each contender's best round, and a store's cost is
   the median, over the rounds, of its turns/s against the no-store run of the
   same round (a paired figure: a slow moment of a shared machine hits both).

With ``taskset`` and two CPUs, this process (the client) runs on one CPU and the
emulator and redis-server (the "remote" side) on the other, as in ``run.py``.

    python benchmarks/bench_stores.py [--ops N] [--hot-turns N] [--keys N]
                                      [--turns-per-key N] [--concurrency N]

Redis runs when ``redis-server`` is on the PATH (a private one is started on a free
port) and redis-py is installed (``pip install -e '.[redis]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs

from pathors_async import Agent, AsyncPathors, Conversation
from pathors_async.stores import Conversations, ConversationStore, MemoryStore, SQLiteStore

KEY = "bench-key"
PROJECT = "bench-project"
END = "bench-stores-end"  # the marker after the commands MONITOR counts


def pin() -> tuple[list[str], str]:
    """Pin this process to one CPU; the prefix that runs a server on another, and what it did."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cpus) < 2:
        return [], "not pinned (needs taskset and two CPUs)"
    server, client = cpus[0], cpus[1]
    os.sched_setaffinity(0, {client})
    return ["taskset", "-c", str(server)], f"client on CPU {client}, servers on CPU {server}"


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds process `pid` has used (user + system), or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_emulator(prefix: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        *("-m", "pathors_async", "emulator", "--port", "0", "--quiet"),  # stdout is not drained
        *("--api-key", KEY, "--project-id", PROJECT),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert process.stdout is not None  # noqa: S101 - PIPE
    first = (await process.stdout.readline()).decode()
    match = re.search(r"(http://\S+)", first)
    if match is None:
        raise RuntimeError(f"the emulator did not start: {first!r}")
    return process, match.group(1)


def versus(rate: float, base_rate: float, cpu: float, base_cpu: float) -> str:
    """A store's turns/s and CPU against the run without a store, worded the right way round."""
    change = round(100 * (rate / base_rate - 1))
    speed = (
        "as many turns/s"
        if change == 0
        else f"{abs(change)}% {'more' if change > 0 else 'fewer'} turns/s"
    )
    return f"({speed}, {cpu - base_cpu:+.0f} µs CPU)"


def start_redis(directory: str, prefix: list[str]) -> tuple[subprocess.Popen[str], str] | None:
    binary = shutil.which("redis-server")
    try:
        import redis  # noqa: F401, PLC0415 - only to know whether it is installed
    except ImportError:
        return None
    if binary is None:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 - our own arguments
        [
            *(*prefix, binary, "--port", str(port), "--bind", "127.0.0.1"),
            *("--dir", directory, "--save", ""),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None  # noqa: S101 - PIPE
    for line in process.stdout:
        if "Ready to accept connections" in line:
            break
    process.stdout.close()
    return process, f"redis://127.0.0.1:{port}/0"


def sample_conversation(agent: Agent) -> dict[str, Any]:
    messages = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n} " * 20}
        for n in range(20)
    ]
    return Conversation.from_dict(
        {"format": "pathors_async.conversation", "version": 1, "messages": messages}, agent=agent
    ).to_dict()


async def store_alone(
    store: ConversationStore, data: dict[str, Any], ops: int
) -> tuple[float, float]:
    """Microseconds of wall time and of client CPU per lease+load then save+release, one key."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(ops):
        lease = await store.acquire("alone", ttl=30, wait=5, load=True)
        await store.save("alone", data, lease, release=True)
    return (time.perf_counter() - start) / ops * 1e6, (time.process_time() - cpu) / ops * 1e6


async def limited(count: int, concurrency: int, job: Callable[[int], Awaitable[object]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with semaphore:
            await job(n)

    await asyncio.gather(*(one(n) for n in range(count)))


class NoStore:
    """The baseline: conversations in a dict, the same key behind an asyncio.Lock."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.conversations: dict[str, Conversation] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def send(self, key: str, text: str) -> object:
        async with self.locks.setdefault(key, asyncio.Lock()):
            conversation = self.conversations.setdefault(
                key, Conversation(self.agent, history="server")
            )
            return await conversation.send(text)


@attrs.define
class Best:
    """The best figures seen for one contender over the rounds."""

    hot: float = 0.0  # turns/s, one key
    spread: float = 0.0  # turns/s, many keys
    cpu: float = float("inf")  # client CPU µs per turn, many keys
    rates: list[float] = attrs.Factory(list)  # turns/s, many keys, in each round
    servers: dict[str, float] = attrs.Factory(dict)  # CPU µs per turn of each server, many keys


async def one_round(
    send: Callable[[str, str], Awaitable[object]],
    args: argparse.Namespace,
    tag: str,
    best: Best,
    servers: dict[str, int],
) -> None:
    start = time.perf_counter()
    await limited(args.hot_turns, args.concurrency, lambda n: send(f"hot-{tag}", f"m{n}"))
    best.hot = max(best.hot, args.hot_turns / (time.perf_counter() - start))
    total = args.keys * args.turns_per_key
    before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    start, cpu = time.perf_counter(), time.process_time()
    await limited(total, args.concurrency, lambda n: send(f"k{n % args.keys}-{tag}", f"m{n}"))
    rate = total / (time.perf_counter() - start)
    best.rates.append(rate)
    if rate > best.spread:
        best.spread = rate
        best.cpu = (time.process_time() - cpu) / total * 1e6
        for name, pid in servers.items():
            first, now = before[name], cpu_seconds(pid)
            if first is not None and now is not None:
                best.servers[name] = (now - first) / total * 1e6


@asynccontextmanager
async def stores(directory: str, redis_url: str | None) -> AsyncIterator[list[Any]]:
    made: list[Any] = [MemoryStore(), SQLiteStore(os.path.join(directory, "bench.db"))]  # noqa: PTH118
    if redis_url is not None:
        from pathors_async.stores import RedisStore  # noqa: PLC0415 - optional

        made.append(RedisStore(redis_url, prefix="bench:"))
    try:
        yield made
    finally:
        for store in made:
            await store.aclose()


async def redis_round_trips_per_turn(
    url: str, store: ConversationStore, data: dict[str, Any], ops: int
) -> float:
    """Commands clients sent to Redis per turn, as the server saw them (MONITOR)."""
    from redis.asyncio import Redis  # noqa: PLC0415 - optional

    async with Redis.from_url(url) as redis, redis.monitor() as monitor:
        sent = 0

        async def count() -> None:
            nonlocal sent
            async for seen in monitor.listen():
                if seen["command"] == f"ECHO {END}":
                    return
                sent += seen["client_type"] != "lua"  # a script's own commands are not trips

        counting = asyncio.create_task(count())  # MONITOR is on: the server said OK
        await store_alone(store, data, ops)
        await redis.echo(END)
        await counting
    return sent / ops


async def best_of(
    repeat: int, run: Callable[[], Awaitable[tuple[float, float]]]
) -> tuple[float, float]:
    runs = [await run() for _ in range(repeat)]
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


async def print_store_alone(
    made: list[Any], data: dict[str, Any], args: argparse.Namespace, redis_url: str | None
) -> None:
    print(f"1. the store alone, per turn (20-message conversation, {args.ops} turns)")
    print(f"   {'':12} {'wall µs':>9} {'client CPU µs':>14}")
    for store in made:
        await store_alone(store, data, 20)  # warm up
        wall, cpu = await best_of(args.repeat, lambda s=store: store_alone(s, data, args.ops))
        extra = ""
        if type(store).__name__ == "RedisStore" and redis_url is not None:
            ops = min(args.ops, 200)  # MONITOR slows the server: a few turns are enough
            per_turn = await redis_round_trips_per_turn(redis_url, store, data, ops)
            extra = f"   ({per_turn:.1f} round trips per turn)"
        print(f"   {type(store).__name__:12} {wall:9.0f} {cpu:14.0f}{extra}")


async def print_turns(
    agent: Agent, made: list[Any], args: argparse.Namespace, servers: dict[str, int]
) -> None:
    print(
        f"\n2. turns/s against the emulator: one hot key ({args.hot_turns} turns), "
        f"{args.keys:,} keys x {args.turns_per_key} turns; concurrency {args.concurrency}"
    )
    contenders: dict[str, Callable[[str, str], Awaitable[object]]] = {
        "no store": NoStore(agent).send
    }
    for store in made:
        contenders[type(store).__name__] = Conversations(
            agent, store, history="server", lock_wait=300
        ).send
    await limited(50, args.concurrency, lambda n: NoStore(agent).send("w", "warm"))
    best = {name: Best() for name in contenders}
    for round_number in range(args.repeat):  # interleaved: drift hits all alike
        for name, send in contenders.items():
            await one_round(send, args, f"{name}-{round_number}", best[name], servers)
    base = best["no store"]
    paired = {  # each round's turns/s against the no-store run of the same round
        name: statistics.median(
            rate / base_rate for rate, base_rate in zip(figures.rates, base.rates, strict=True)
        )
        for name, figures in best.items()
    }
    names = "".join(f" {name + ' µs':>12}" for name in servers)
    print(f"   {'':12} {'hot key':>9} {'many keys':>10} {'client µs':>10}{names}  (CPU per turn)")
    for name, figures in best.items():
        cost = (
            "" if name == "no store" else "   " + versus(paired[name], 1.0, figures.cpu, base.cpu)
        )
        used = "".join(f" {figures.servers.get(server, float('nan')):12.0f}" for server in servers)
        print(
            f"   {name:12} {figures.hot:9,.0f} {figures.spread:10,.0f} {figures.cpu:10.0f}"
            f"{used}{cost}"
        )
    shares = {"client": base.cpu, **{n: base.servers.get(n, 0.0) for n in servers}}
    share_text = ", ".join(f"{n} {cpu * base.spread / 1e4:.0f}%" for n, cpu in shares.items())
    print(f"   no store, many keys, share of one CPU: {share_text}")
    print(
        "   (turns/s: the best round; fewer/more: the median, over the rounds, of each "
        "round against the no-store run of the same round)"
    )


@attrs.define
class Remote:
    """The servers a benchmark's client talks to, and a directory for their files."""

    emulator: asyncio.subprocess.Process
    url: str  # the emulator's
    directory: str
    redis: tuple[subprocess.Popen[str], str] | None  # the process and its URL

    @property
    def redis_url(self) -> str | None:
        return self.redis[1] if self.redis else None


@asynccontextmanager
async def remote_side(prefix: list[str], *, redis: bool = True) -> AsyncIterator[Remote]:
    """Start the emulator and (if `redis` and it is installed) a redis-server; stop them after."""
    emulator, url = await start_emulator(prefix)
    directory = tempfile.mkdtemp(prefix="bench-stores-")
    remote = Remote(emulator, url, directory, start_redis(directory, prefix) if redis else None)
    try:
        yield remote
    finally:
        emulator.send_signal(signal.SIGINT)
        await emulator.communicate()
        if remote.redis is not None:
            remote.redis[0].terminate()
            remote.redis[0].wait()
        shutil.rmtree(directory, ignore_errors=True)


async def measure(args: argparse.Namespace) -> None:
    prefix, pinned = pin()
    print(f"pinning: {pinned}\n")
    async with remote_side(prefix) as remote:
        if remote.redis is None:
            print("Redis: redis-server or redis-py missing; skipped\n")
        servers = {
            "emulator": remote.emulator.pid,
            **({"redis": remote.redis[0].pid} if remote.redis else {}),
        }
        async with AsyncPathors(api_key=KEY, project_id=PROJECT, base_url=remote.url) as client:
            agent = Agent(client)
            data = sample_conversation(agent)
            async with stores(remote.directory, remote.redis_url) as made:
                await print_store_alone(made, data, args, remote.redis_url)
                await print_turns(agent, made, args, servers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--hot-turns", type=int, default=300)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--turns-per-key", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
