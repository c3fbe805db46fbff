"""`RedisBatch`: one batch job spread over many worker processes on Redis Streams.

Keys, under ``{prefix}{job}:``: ``items`` (hash id -> input line), ``stream``
(one entry per item, read by the consumer group ``workers``), ``results``
(hash id -> output line, written with ``HSETNX``: the first result wins),
``workers`` (hash of per-worker counters) and ``meta`` (first/last finish times).
Needs the ``redis`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pathors_async._errors import StoreError
from pathors_async._json import dumps
from pathors_async.stores._redis_pool import (
    DEFAULT_MAX_CONNECTIONS,
    check_max_connections,
    redis_from_url,
)

from ._items import BatchItem, InputProblem, item_key, parse_item
from ._local import read_items
from ._status import JobStatus, SubmitReport, parse_workers
from ._summary import ProgressHook, Tally, counting_retries
from ._worker import Worker

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from typing_extensions import Self

    from pathors_async._agent import Agent

__all__ = ["RedisBatch"]

GROUP = "workers"

# KEYS: items, stream. ARGV: id, input line. Enqueued once per id, atomically.
SUBMIT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
    redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
    return 1
end
return 0
"""

# KEYS: results, stream, workers, meta. ARGV: id, line, entry id, worker, failed?, now.
# The result is recorded once (HSETNX); the entry is acknowledged only with it, in one step.
RECORD = """
local recorded = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if recorded == 1 then
    redis.call('HINCRBY', KEYS[3], ARGV[4] .. ':done', 1)
    if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[4] .. ':failed', 1) end
    redis.call('HSET', KEYS[3], ARGV[4] .. ':last', ARGV[6])
    redis.call('HSETNX', KEYS[4], 'first', ARGV[6])
    redis.call('HSET', KEYS[4], 'last', ARGV[6])
end
redis.call('XACK', KEYS[2], 'workers', ARGV[3])
return recorded
"""


@contextlib.contextmanager
def _redis_failures(job: str) -> Iterator[None]:
    """Turn redis-py's errors into `StoreError` (the message says what to check)."""
    from redis.exceptions import RedisError  # noqa: PLC0415 - the extra is optional

    try:
        yield
    except RedisError as exc:
        raise StoreError(
            f"Redis batch job {job!r} failed: {type(exc).__name__}: {exc}; "
            "check that the server is up and reachable"
        ) from exc


def _worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class RedisBatch:
    """A batch job on Redis Streams: submit once, work from any number of processes, collect.

    Args:
        url: A redis-py URL (``redis://host:6379/0``).
        job: The job's name; items are enqueued once per job.
        prefix: Where the job's keys live.
        client: A `redis.asyncio.Redis` of your own instead of `url` (not closed by `aclose`).
        max_connections: Connections to `url` open at most; calls beyond that wait
            for a free one. Not used with ``client=``.

    Raises:
        ImportError: redis-py is not installed (``pip install 'pathors-async[redis]'``).
        ValueError: The job name is empty or has braces, or `max_connections` is below 1.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        job: str,
        prefix: str = "pathors:batch:",
        client: Redis | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        check_max_connections(max_connections)
        if not job or any(c in job for c in "{}\r\n"):
            raise ValueError(f"job must be a non-empty name without braces or line ends: {job!r}")
        self.job = job
        base = f"{prefix}{job}:"
        self._items, self._stream, self._results = base + "items", base + "stream", base + "results"
        self._workers, self._meta = base + "workers", base + "meta"
        self._owns_client = client is None
        if client is None:
            client = redis_from_url(url, max_connections=max_connections, needed_by="RedisBatch")
        self._redis: Any = client  # redis-py's own types are too loose to help here
        self._submit = client.register_script(SUBMIT)
        self._record = client.register_script(RECORD)

    def __repr__(self) -> str:
        return f"RedisBatch(job={self.job!r})"

    async def aclose(self) -> None:
        """Close the Redis connection (if this object opened it)."""
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def submit(self, input_path: str | os.PathLike[str]) -> SubmitReport:
        """Enqueue every valid line of a JSONL input; ids the job already has are skipped.

        Args:
            input_path: The JSONL input (the same format as `run_batch`'s).

        Returns:
            The `SubmitReport` (malformed lines are reported and skipped).

        Raises:
            StoreError: Redis failed (the same for the other methods).
        """
        with _redis_failures(self.job):
            items, problems = read_items(input_path)
            await self._ensure_group()
            enqueued = 0
            pipe = self._redis.pipeline(transaction=False)
            for item in items:
                await self._submit(
                    keys=[self._items, self._stream],
                    args=[item_key(item.id), dumps(_item_data(item))],
                    client=pipe,
                )
            for added in await pipe.execute():
                enqueued += int(added)
            return SubmitReport(
                enqueued=enqueued,
                already=len(items) - enqueued,
                malformed=tuple(str(problem) for problem in problems),
            )

    async def _ensure_group(self) -> None:
        from redis.exceptions import ResponseError  # noqa: PLC0415 - the extra is optional

        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def record(self, entry_id: str, result: dict[str, Any], worker: str) -> bool:
        """Record an item's result and acknowledge its entry, in one atomic step.

        Returns:
            True if this was the item's first result; False if another worker
            recorded it first (this one is dropped; the entry is acknowledged).
        """
        with _redis_failures(self.job):
            recorded = await self._record(
                keys=[self._results, self._stream, self._workers, self._meta],
                args=[
                    item_key(result["id"]),
                    dumps(result),
                    entry_id,
                    worker,
                    "1" if result.get("error") else "0",
                    repr(time.time()),
                ],
            )
            return bool(recorded)

    async def status(self) -> JobStatus:
        """The job's counts, throughput and per-worker shares."""
        with _redis_failures(self.job):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hlen(self._items).hlen(self._results).hgetall(self._workers).hgetall(self._meta)
            pipe.exists(self._stream)
            total, done, workers_raw, meta, has_stream = await pipe.execute()
            pending = 0
            if has_stream:
                with contextlib.suppress(Exception):  # no group yet: nothing pending
                    pending = int((await self._redis.xpending(self._stream, GROUP))["pending"])
            workers = parse_workers(workers_raw)
            first, last = (float(meta[k]) if k in meta else None for k in (b"first", b"last"))
            throughput = (
                done / (last - first) if first is not None and last and last > first else None
            )
            return JobStatus(
                job=self.job,
                total=int(total),
                done=int(done),
                failed=sum(worker.failed for worker in workers),
                pending=pending,
                throughput=throughput,
                workers=workers,
            )

    async def collect(self, output_path: str | os.PathLike[str]) -> int:
        """Write every recorded result as JSONL, in submission order; the number written."""
        with _redis_failures(self.job):
            written = 0
            with _create(Path(output_path)) as output:
                async for ids in self._ids_in_order():
                    lines = [line for line in await self._redis.hmget(self._results, ids) if line]
                    output.writelines(line + b"\n" for line in lines)
                    written += len(lines)
            return written

    async def _ids_in_order(self, page: int = 500) -> AsyncIterator[list[bytes]]:
        start = "-"
        while True:
            entries = await self._redis.xrange(self._stream, min=start, count=page)
            if not entries:
                return
            yield [fields[b"id"] for _, fields in entries]
            last = entries[-1][0].decode()
            start = "(" + last
            if len(entries) < page:
                return

    async def work(
        self,
        agent: Agent,
        *,
        concurrency: int = 50,
        visibility_timeout: float = 300.0,
        worker: str | None = None,
        stop: asyncio.Event | None = None,
        on_progress: ProgressHook | None = None,
    ) -> int:
        """Run the job's items until every submitted item has a result (or `stop` is set).

        Items another worker took and left unfinished for `visibility_timeout`
        seconds (it crashed) are claimed with ``XAUTOCLAIM``; while this worker
        runs an item it keeps the claim fresh. An item is acknowledged only once
        its result is recorded.

        Args:
            agent: The agent every item runs on.
            concurrency: Most items running at once in this process.
            visibility_timeout: Seconds before another worker's unfinished item is reclaimed.
            worker: This worker's name (default: host, pid and a random suffix).
            stop: When set, in-flight items are cancelled and handed back (any
                worker may claim them at once) and the call returns.
            on_progress: Called with a `BatchProgress` after every item this worker finishes.

        Returns:
            How many results this worker recorded.
        """
        with _redis_failures(self.job):
            await self._ensure_group()
            tally = Tally(total=0)
            runner = Worker(
                self,
                agent,
                name=worker or _worker_name(),
                concurrency=concurrency,
                visibility_ms=max(1, int(visibility_timeout * 1000)),
                tally=tally,
                on_progress=on_progress,
            )
            with counting_retries(tally):
                return await runner.run(stop)

    # ------------------------------------------------------------ for the worker loop

    @property
    def redis(self) -> Any:  # noqa: ANN401 - a redis.asyncio.Redis
        """The redis-py client."""
        return self._redis

    @property
    def stream_key(self) -> str:
        """The stream's key."""
        return self._stream

    async def counts(self) -> tuple[int, int]:
        """Items submitted, results recorded."""
        pipe = self._redis.pipeline(transaction=False)
        total, done = await pipe.hlen(self._items).hlen(self._results).execute()
        return int(total), int(done)

    async def load(self, item_id: bytes) -> BatchItem | InputProblem | None:
        """An item by id (None: already has a result)."""
        pipe = self._redis.pipeline(transaction=False)
        exists, line = (
            await pipe.hexists(self._results, item_id).hget(self._items, item_id).execute()
        )
        if exists or line is None:
            return None
        try:
            return parse_item(line.decode(), 0)
        except ValueError as exc:  # pragma: no cover - submit only stores valid items
            return InputProblem(line=0, message=str(exc))


def _create(path: Path) -> IO[bytes]:
    """Open `path` for writing (a plain, small, local write)."""
    return path.open("wb")


def _item_data(item: BatchItem) -> dict[str, Any]:
    data: dict[str, Any] = {"id": item.id}
    if item.turns is not None:
        data["turns"] = list(item.turns)
    if item.messages is not None:
        data["messages"] = list(item.messages)
    if item.session_id is not None:
        data["session_id"] = item.session_id
    if item.deps is not None:
        data["deps"] = item.deps
    return data
