"""`WorkerThread`: one daemon thread that runs blocking calls for the event loop, in batches.

`SQLiteStore` keeps its connection on this thread, so blocking SQLite calls
never run on the event loop, and the thread never keeps the process alive.
Calls queued while the thread was busy are handed to it together (up to
`max_batch`), so a store can run them in one transaction (group commit), and
their results go back to the loop in one wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

__all__ = ["Outcome", "WorkerThread", "run_each"]

T = TypeVar("T")

#: A call's outcome: (True, its result) or (False, the exception it raised).
Outcome = tuple[bool, Any]
#: What to do with the result of a call whose caller was cancelled (e.g. give a lease back).
Orphan = Callable[[Any], object] | None
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]", Orphan]
_Settled = tuple["asyncio.Future[Any]", Outcome, Orphan]

MAX_BATCH: Final = 64


def run_each(calls: Sequence[Callable[[], Any]]) -> list[Outcome]:
    """Run the calls one by one, each outcome apart (the default way to run a batch)."""
    outcomes: list[Outcome] = []
    for call in calls:
        try:
            outcomes.append((True, call()))
        except BaseException as exc:  # noqa: BLE001, PERF203 - each outcome apart, for its caller
            outcomes.append((False, exc))
    return outcomes


class WorkerThread:
    """Runs the functions given to `run` on a single daemon thread, in order, in batches.

    Args:
        name: The thread's name (seen in debuggers and thread dumps).
        run_batch: Runs a batch of calls and returns one outcome per call, in order
            (default: `run_each`). It must not raise.
        max_batch: Most calls handed over at once.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[Sequence[Callable[[], Any]]], list[Outcome]] = run_each,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._started = False
        self._closed = False
        self._final: tuple[Callable[[], object] | None, asyncio.Future[None]] | None = None

    async def run(self, function: Callable[[], T], *, orphan: Orphan = None) -> T:
        """Run `function()` on the thread and return its result (or raise its exception).

        A cancelled caller does not stop a call already queued: it runs, and
        when it returns, its result is handed to `orphan` (on the event loop),
        which can undo it. So is a result delivered in the very loop iteration
        where the caller is cancelled (a timeout firing then): the future holds
        it, but the caller gets `CancelledError`.

        Raises:
            RuntimeError: The thread was stopped.
        """
        if self._closed:
            raise RuntimeError("this store is closed; create a new one")
        if not self._started:
            self._started = True
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((function, loop, future, orphan))
        try:
            return await future
        except asyncio.CancelledError:
            # Pending: cancel it, and `_settle` hands the result to `orphan` when it comes.
            if not future.cancel():
                _hand_over(future, orphan)
            raise

    def _next_batch(self) -> list[_Job] | None:
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _work(self) -> None:
        self._work_batches()
        assert self._final is not None  # noqa: S101 - set by stop() before the sentinel
        final, done = self._final
        outcome = run_each([final]) if final is not None else [(True, None)]
        settled: list[_Settled] = [(done, outcome[0], None)]
        with contextlib.suppress(RuntimeError):
            done.get_loop().call_soon_threadsafe(_settle, settled)

    def _work_batches(self) -> None:
        while (batch := self._next_batch()) is not None:
            outcomes = self._run_batch([job[0] for job in batch])
            by_loop: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
            for (_, loop, future, orphan), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((future, outcome, orphan))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, settled)

    async def stop(self, final: Callable[[], object] | None = None) -> None:
        """Refuse new calls, finish the queued ones, run `final` (e.g. close), end the thread."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._final = (final, done)
        self._jobs.put(None)
        await done


def _hand_over(future: asyncio.Future[Any], orphan: Orphan) -> None:
    """Give the result of a call whose caller was cancelled after it came in to `orphan`."""
    if future.cancelled() or future.exception() is not None:  # nothing to undo
        return
    if orphan is not None:
        orphan(future.result())


def _settle(settled: list[_Settled]) -> None:
    for future, (ok, value), orphan in settled:
        if future.cancelled():
            if ok and orphan is not None:
                orphan(value)
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
