"""What a conversation store costs per turn in client instructions (valgrind).

Part 2 of ``bench_stores.py`` gives a store's cost as fewer turns/s, 1,000 keys at a
concurrency of 100 against the emulator. There the client's CPU sets the pace, so turns/s
follows the client's CPU per turn; but wall time and CPU time on a shared machine move by
+-10 points from run to run. Instructions counted by valgrind (cachegrind, no cache
simulation) move by less than 1%, so this script counts those instead.

The client runs under valgrind twice per contender, with fewer keys and with more (each key
two turns, as in part 2); the difference between the two, per turn, is what a turn costs,
with start-up, imports and the warm-up cancelled out. The emulator and redis-server run
normally. Under valgrind the client runs tens of times slower, so answers are always waiting
when it looks (more of them per read than in a normal run): the figures count the client's
work on a turn, not the time it waits.

    python benchmarks/bench_stores_cpu.py [--keys-low N] [--keys-high N] [--concurrency N]
                                          [--contenders none,MemoryStore,SQLiteStore,RedisStore]

Needs valgrind (Debian: ``apt-get install -y valgrind``); without it the script says so and
exits 0. RedisStore runs when ``redis-server`` is on the PATH and redis-py is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import time

import attrs
import bench_stores as bench  # the sibling script: its emulator, Redis, baseline and loop

from pathors_async import Agent, AsyncPathors, __version__
from pathors_async.stores import Conversations, ConversationStore, MemoryStore, SQLiteStore

CONTENDERS = ("none", "MemoryStore", "SQLiteStore", "RedisStore")
NAMES = {"none": "no store"}  # how the table names a contender
SCRIPT = pathlib.Path(__file__).resolve()  # what valgrind runs, as the child
INSTALL = "Debian: apt-get install -y valgrind"

# cachegrind's summary line, e.g. "==1234== I   refs:      1,234,567,890"
I_REFS = re.compile(r"^(?:==\d+==)?\s*I\s+refs:\s+(\d[\d,]*)\s*$", re.MULTILINE)


def instructions(stderr: str) -> int:
    """The total "I refs" in valgrind's (cachegrind's) stderr; the last, if there are several."""
    found = I_REFS.findall(stderr)
    if not found:
        tail = "\n".join(stderr.splitlines()[-20:])
        raise RuntimeError(f"no 'I refs' line in valgrind's output:\n{tail}")
    return int(found[-1].replace(",", ""))


def per_turn(low: int, high: int, keys_low: int, keys_high: int) -> float:
    """Instructions per turn: the difference between two runs of two turns per key."""
    return (high - low) / (2 * (keys_high - keys_low))


def cost(store: float, base: float) -> str:
    """What a store's instructions per turn mean for turns/s where the client's CPU is the limit."""
    change = round(100 * (1 - base / store))
    if change == 0:
        return "as many turns/s"
    return f"{abs(change)}% {'fewer' if change > 0 else 'more'} turns/s"


# The child: the client, run under valgrind.


def make_store(kind: str, args: argparse.Namespace) -> ConversationStore:
    if kind == "MemoryStore":
        return MemoryStore()
    if kind == "SQLiteStore":  # a new file each run: the same number of rows before the turns
        return SQLiteStore(os.path.join(args.directory, f"cpu-{os.getpid()}.db"))  # noqa: PTH118
    if kind == "RedisStore":
        from pathors_async.stores import RedisStore  # noqa: PLC0415 - optional

        return RedisStore(args.redis_url, prefix=f"cpu-{os.getpid()}:")
    raise ValueError(f"unknown contender {kind!r}; one of {', '.join(CONTENDERS)}")


async def child(args: argparse.Namespace) -> None:
    async with AsyncPathors(api_key=bench.KEY, project_id=bench.PROJECT, base_url=args.url) as c:
        agent = Agent(c)
        store = None if args.child == "none" else make_store(args.child, args)
        send = (
            bench.NoStore(agent).send
            if store is None
            else Conversations(agent, store, history="server", lock_wait=300).send
        )
        try:
            await bench.limited(args.warmup, args.concurrency, lambda n: send(f"w{n}", "warm"))
            await bench.limited(
                2 * args.keys, args.concurrency, lambda n: send(f"k{n % args.keys}", f"m{n}")
            )
        finally:
            if store is not None:
                await store.aclose()


# The parent: valgrind, the servers and the table.


LEFT_OUT = ("PYTHONDONTWRITEBYTECODE", "COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
VALGRIND = (
    "valgrind",
    "--tool=cachegrind",
    "--cache-sim=no",
    f"--cachegrind-out-file={os.devnull}",
)


@attrs.frozen
class Client:
    """How to run the client: the servers it talks to, its files and its environment."""

    url: str
    redis_url: str
    directory: str
    concurrency: int
    env: dict[str, str]

    async def run(self, kind: str, keys: int, warmup: int, *, valgrind: bool) -> str:
        """Run the client for a warm-up and 2 * `keys` turns; its stderr (valgrind's, too)."""
        process = await asyncio.create_subprocess_exec(
            *(VALGRIND if valgrind else ()),
            *(sys.executable, str(SCRIPT), "--child", kind, "--url", self.url),
            *("--redis-url", self.redis_url, "--directory", self.directory),
            *("--keys", str(keys), "--warmup", str(warmup)),
            *("--concurrency", str(self.concurrency)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        _, stderr = await process.communicate()
        text = stderr.decode(errors="replace")
        if process.returncode != 0:
            tail = "\n".join(text.splitlines()[-20:])
            raise RuntimeError(
                f"{kind}, {keys} keys: the client failed ({process.returncode}):\n{tail}"
            )
        return text


def child_env(directory: str) -> dict[str, str]:
    """This environment, with bytecode cached in `directory`: no run under valgrind compiles.

    With PYTHONDONTWRITEBYTECODE (or no write access to __pycache__), every run would compile
    the modules it imports again: slow under valgrind, and a run that compiles and one that
    does not would not cancel out. A run outside valgrind fills the cache first. Coverage,
    when this runs under it, is left out: its tracing would count as the client's work.
    """
    env = {name: value for name, value in os.environ.items() if name not in LEFT_OUT}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(directory, "pycache")  # noqa: PTH118
    return env


def valgrind_version() -> str:
    result = subprocess.run(
        ["valgrind", "--version"],  # noqa: S607 - found on the PATH, as the runs find it
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "valgrind, version unknown"


async def measure(args: argparse.Namespace, contenders: list[str]) -> None:
    print(
        f"{valgrind_version()} (cachegrind, --cache-sim=no); Python {platform.python_version()} "
        f"({sys.executable}); pathors_async {__version__}"
    )
    print(
        f"client instructions per turn: ({args.keys_high:,} keys - {args.keys_low:,} keys) "
        f"x 2 turns, concurrency {args.concurrency}, after {args.warmup} warm-up turns\n"
    )
    async with bench.remote_side([], redis="RedisStore" in contenders) as remote:
        if "RedisStore" in contenders and remote.redis is None:
            print("RedisStore: redis-server or redis-py missing; skipped\n")
            contenders.remove("RedisStore")
        directory = remote.directory
        client = Client(
            remote.url, remote.redis_url or "", directory, args.concurrency, child_env(directory)
        )
        started = time.perf_counter()
        for kind in contenders:  # outside valgrind: the bytecode cache, and a check it runs
            await client.run(kind, 1, 1, valgrind=False)
        print(
            f"   {'':12} {'per turn':>9} {'vs no store':>12}   "
            "cost where the client's CPU is the limit"
        )
        base = None
        for kind in contenders:
            low = instructions(await client.run(kind, args.keys_low, args.warmup, valgrind=True))
            high = instructions(await client.run(kind, args.keys_high, args.warmup, valgrind=True))
            figure = per_turn(low, high, args.keys_low, args.keys_high)
            if kind == "none":
                base = figure
            row = f"   {NAMES.get(kind, kind):12} {figure / 1e3:8,.0f}k"
            if base is not None and kind != "none":
                row += f" {(figure - base) / 1e3:+11,.0f}k   {cost(figure, base)}"
            print(row, flush=True)
        print(
            "   (thousands of client instructions per turn; the cost is 1 - no store / store:\n"
            "   where the client is the bottleneck, turns/s follow its CPU per turn)"
        )
        print(
            f"\n{2 * len(contenders)} runs under valgrind in {time.perf_counter() - started:.0f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys-low", type=int, default=300)
    parser.add_argument("--keys-high", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=100, help="turns on other keys first")
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help=f"a subset of {','.join(CONTENDERS)}"
    )
    # the client under valgrind, run by the parent
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        asyncio.run(child(args))
        return 0
    asked = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = sorted(set(asked) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {', '.join(unknown)}; choose from {','.join(CONTENDERS)}")
    if args.keys_high <= args.keys_low:
        parser.error("--keys-high must be more than --keys-low")
    if shutil.which("valgrind") is None:
        print(f"valgrind is not on the PATH: skipped ({INSTALL})")
        return 0
    contenders = [name for name in CONTENDERS if name in asked]  # "none" first: the base
    asyncio.run(measure(args, contenders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
