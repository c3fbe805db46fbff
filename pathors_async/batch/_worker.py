"""The loop of one `RedisBatch` worker: claim, run, record and acknowledge, keep claims fresh."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ._items import BatchItem
from ._local import run_item
from ._summary import ProgressHook, Tally, check_concurrency

if TYPE_CHECKING:
    from pathors_async._agent import Agent

    from ._queue import RedisBatch

__all__ = ["Worker"]

GROUP = "workers"

logger = logging.getLogger("pathors_async")


class Worker:
    """Runs a job's items in one process until the job is complete or it is stopped.

    redis-py's asyncio client can swallow a cancellation that arrives while a
    command runs, so every loop also checks `stopping` after its Redis calls.
    """

    def __init__(
        self,
        job: RedisBatch,
        agent: Agent,
        *,
        name: str,
        concurrency: int,
        visibility_ms: int,
        tally: Tally,
        on_progress: ProgressHook | None,
    ) -> None:
        self.job = job
        self.agent = agent
        self.name = name
        self.concurrency = check_concurrency(concurrency)
        self.visibility_ms = visibility_ms
        self.poll_ms = max(1, min(500, visibility_ms // 2))
        self.tally = tally
        self.on_progress = on_progress
        self.in_flight: dict[bytes, asyncio.Task[None]] = {}
        self.recorded = 0
        self.stopping = False

    async def run(self, stop: asyncio.Event | None) -> int:
        """Work until every submitted item has a result, or `stop` is set; results recorded."""
        keeper = asyncio.ensure_future(self._keep_claims())
        fetching = asyncio.ensure_future(self._fetch_loop())
        stop_waiter = asyncio.ensure_future(stop.wait()) if stop is not None else None
        held: list[bytes] = []
        try:
            waiting: set[asyncio.Future[Any]] = {fetching, keeper}
            if stop_waiter is not None:
                waiting.add(stop_waiter)
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stopping = True
            held = list(self.in_flight)
            for task in (fetching, keeper, stop_waiter, *self.in_flight.values()):
                if task is not None:
                    task.cancel()
            await asyncio.gather(fetching, keeper, *self.in_flight.values(), return_exceptions=True)
            if stop_waiter is not None:
                stop_waiter.cancel()
        for loop in (fetching, keeper):
            failure = loop.exception() if loop.done() and not loop.cancelled() else None
            if failure is not None:
                if loop is keeper:  # going on would let others reclaim live items: stop
                    logger.error(
                        "batch job %r: worker %s stopped: keeping its claims failed: %s",
                        self.job.job,
                        self.name,
                        failure,
                    )
                raise failure
        await self._give_back(held)
        return self.recorded

    async def _give_back(self, held: list[bytes]) -> None:
        """Make the entries this worker still held claimable by others right away."""
        if held:
            with contextlib.suppress(Exception):
                await self.job.redis.xclaim(
                    self.job.stream_key,
                    GROUP,
                    self.name,
                    0,
                    held,
                    idle=self.visibility_ms,
                    justid=True,
                )

    async def _fetch_loop(self) -> None:
        redis, stream = self.job.redis, self.job.stream_key
        while not self.stopping:
            free = self.concurrency - len(self.in_flight)
            if self.in_flight and free < max(1, self.concurrency // 4):
                await asyncio.wait(self.in_flight.values(), return_when=asyncio.FIRST_COMPLETED)
                continue
            _, entries, *_ = await redis.xautoclaim(
                stream, GROUP, self.name, self.visibility_ms, "0-0", count=free
            )
            if not entries:
                read = await redis.xreadgroup(
                    GROUP, self.name, {stream: ">"}, count=free, block=None
                )
                entries = read[0][1] if read else []
            if entries:
                for entry_id, _fields in entries:
                    self._start(entry_id, _fields[b"id"])
                continue
            if not self.in_flight:
                total, done = await self.job.counts()
                if total and done >= total:
                    return
                read = await redis.xreadgroup(
                    GROUP, self.name, {stream: ">"}, count=free, block=self.poll_ms
                )
                for entry_id, fields in read[0][1] if read else []:
                    self._start(entry_id, fields[b"id"])
            else:
                await asyncio.wait(
                    self.in_flight.values(),
                    timeout=self.poll_ms / 1000,
                    return_when=asyncio.FIRST_COMPLETED,
                )

    def _start(self, entry_id: bytes, item_id: bytes) -> None:
        if entry_id in self.in_flight or self.stopping:
            return
        task = asyncio.ensure_future(self._run_entry(entry_id, item_id))
        self.in_flight[entry_id] = task
        task.add_done_callback(lambda done: self._ended(entry_id, done))

    def _ended(self, entry_id: bytes, task: asyncio.Task[None]) -> None:
        """Forget a finished entry; log its failure (it is retried after the visibility timeout)."""
        self.in_flight.pop(entry_id, None)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            logger.error(
                "batch job %r: entry %s failed in worker %s (another try after the "
                "visibility timeout): %s: %s",
                self.job.job,
                entry_id.decode(errors="replace"),
                self.name,
                type(failure).__name__,
                failure,
            )

    async def _run_entry(self, entry_id: bytes, item_id: bytes) -> None:
        item = await self.job.load(item_id)
        if self.stopping:  # redis-py can swallow a cancellation: check after each command
            return
        if not isinstance(item, BatchItem):  # recorded already (or unreadable): only acknowledge
            await self.job.redis.xack(self.job.stream_key, GROUP, entry_id)
            return
        result = await run_item(self.agent, item)
        if await self.job.record(entry_id.decode(), result, self.name):
            self.recorded += 1
            self.tally.add(result)
            if self.on_progress is not None:
                self.on_progress(self.tally.progress())

    async def _keep_claims(self) -> None:
        """Reset the idle time of the entries in flight, so no one reclaims a live item."""
        while not self.stopping:
            await asyncio.sleep(self.visibility_ms / 3000)
            held = list(self.in_flight)
            if held:
                await self.job.redis.xclaim(
                    self.job.stream_key, GROUP, self.name, 0, held, justid=True
                )
