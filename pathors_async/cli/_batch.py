"""``pathors-async batch``: run a JSONL file of conversations here, or as a job on Redis.

``batch IN -o OUT`` runs on this machine (resumable). ``batch submit``, ``work``,
``status`` and ``collect`` run a job on Redis Streams across processes and hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pathors_async import Agent, AsyncPathors, StoreError
from pathors_async.batch import BatchInputError, RedisBatch, run_batch

from ._progress import progress_for

__all__ = ["load_factory", "main"]

SUBCOMMANDS = ("submit", "work", "status", "collect")
INTERRUPTED = 130


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        metavar="PKG.MOD:FACTORY",
        help="build the agent with FACTORY(client) -> Agent (default: no tools)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="items at once (default 50)")
    parser.add_argument(
        "--emulator", action="store_true", help="run against the bundled emulator (offline)"
    )
    parser.add_argument(
        "--progress-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds between plain progress lines when stdout is not a terminal (default 2)",
    )


def _job(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", default="redis://localhost:6379/0", help="Redis URL")
    parser.add_argument("--job", required=True, help="the job's name")


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    local = argparse.ArgumentParser(
        prog="pathors-async batch",
        description="Run every conversation of a JSONL file; one result line per item. "
        "Many machines: pathors-async batch {submit,work,status,collect} --help",
    )
    local.add_argument("input", help="JSONL input: {id, turns | messages, session_id?, deps?}")
    local.add_argument("-o", "--output", required=True, help="JSONL output (appended; resumes)")
    local.add_argument(
        "--strict", action="store_true", help="stop before any request if a line is malformed"
    )
    _common(local)
    jobs = argparse.ArgumentParser(prog="pathors-async batch", description="a job on Redis")
    commands = jobs.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="enqueue a JSONL file (ids once per job)")
    submit.add_argument("input")
    work = commands.add_parser("work", help="run the job's items until it is done")
    work.add_argument(
        "--visibility-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="reclaim an item a crashed worker held after this long (default 300)",
    )
    work.add_argument("--worker", help="this worker's name (default: host-pid-random)")
    _common(work)
    commands.add_parser("status", help="counts, throughput, per worker")
    collect = commands.add_parser("collect", help="write the results as JSONL")
    collect.add_argument("-o", "--output", required=True)
    for command in (submit, work, commands.choices["status"], collect):
        _job(command)
    return local, jobs


def load_factory(spec: str) -> Any:  # noqa: ANN401 - the user's callable
    """Import ``pkg.mod:factory`` (the current directory is importable, as with ``python -m``).

    Raises:
        SystemExit: The spec is malformed or names nothing importable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"--agent must look like pkg.module:factory, got {spec!r}")
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"--agent {spec}: cannot import it ({exc})") from None
    if not callable(target):
        raise SystemExit(f"--agent {spec}: {type(target).__name__} is not callable")
    return target


async def _agent(spec: str | None, client: AsyncPathors) -> Agent:
    if spec is None:
        return Agent(client)
    agent = load_factory(spec)(client)
    if inspect.isawaitable(agent):
        agent = await agent
    if not isinstance(agent, Agent):
        raise SystemExit(f"--agent {spec}: the factory returned {type(agent).__name__}, not Agent")
    return agent


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[AsyncPathors]:
    connections = max(1, args.concurrency)
    if args.emulator:
        from pathors_async.testing import FakePathors  # noqa: PLC0415 - only for --emulator

        async with FakePathors() as fake, fake.client(max_connections=connections) as client:
            yield client
    else:
        try:
            client = AsyncPathors(max_connections=connections)
        except ValueError as exc:
            raise SystemExit(f"error: {exc} (or use --emulator to run offline)") from None
        async with client:
            yield client


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (the batch then stops cleanly)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # pragma: no cover - Windows
            loop.add_signal_handler(signum, stop.set)
    return stop


async def _run_local(args: argparse.Namespace) -> int:
    stop = _stop_on_signals()
    async with _client(args) as client:
        agent = await _agent(args.agent, client)
        with progress_for("batch", None, every=args.progress_every) as progress:
            try:
                summary = await run_batch(
                    agent,
                    args.input,
                    args.output,
                    concurrency=args.concurrency,
                    strict=args.strict,
                    stop=stop,
                    on_progress=progress,
                )
            except BatchInputError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
    for line in summary.lines():
        print(line, flush=True)
    if summary.interrupted:
        return INTERRUPTED
    return 1 if summary.failed_count or summary.malformed else 0


async def _run_job(args: argparse.Namespace, job: RedisBatch) -> int:
    async with job:
        if args.command == "submit":
            report = await job.submit(args.input)
            print(f"job {args.job}: {report.enqueued} enqueued, {report.already} already there")
            for problem in report.malformed:
                print(f"  skipped malformed {problem}")
            return 1 if report.malformed else 0
        if args.command == "work":
            return await _work(args, job)
        if args.command == "collect":
            written = await job.collect(args.output)
            status = await job.status()
            print(f"job {args.job}: {written} result(s) written to {args.output}")
            missing = status.total - written
            if missing:
                print(f"  {missing} item(s) have no result yet")
            return 1 if missing else 0
        for line in (await job.status()).lines():
            print(line)
        return 0


async def _work(args: argparse.Namespace, job: RedisBatch) -> int:
    stop = _stop_on_signals()
    async with _client(args) as client:
        agent = await _agent(args.agent, client)
        label = f"worker {args.worker}" if args.worker else "worker"
        with progress_for(label, None, every=args.progress_every) as progress:
            recorded = await job.work(
                agent,
                concurrency=args.concurrency,
                visibility_timeout=args.visibility_timeout,
                worker=args.worker,
                stop=stop,
                on_progress=progress,
            )
    print(f"{label}: recorded {recorded} result(s)", flush=True)
    for line in (await job.status()).lines():
        print(line, flush=True)
    return INTERRUPTED if stop.is_set() else 0


def main(argv: Sequence[str]) -> int:
    """Run ``pathors-async batch …``; the exit status."""
    local, jobs = _parsers()
    if argv[:1] and argv[0] in SUBCOMMANDS:
        args = jobs.parse_args(argv)
        try:
            job = RedisBatch(args.redis, job=args.job)
        except ValueError as exc:
            return _error(exc)
        try:
            return asyncio.run(_run_job(args, job))
        except (StoreError, OSError) as exc:
            return _error(exc)
    args = local.parse_args(argv)
    if args.concurrency < 1:
        local.error("--concurrency must be 1 or more")
    try:
        return asyncio.run(_run_local(args))
    except OSError as exc:  # the input cannot be read or the output written
        return _error(exc)


def _error(exc: Exception) -> int:
    """Say what went wrong in one line on stderr; the exit status for a usage error."""
    print(f"error: {exc}", file=sys.stderr)
    return 2
