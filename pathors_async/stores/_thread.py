"""`WorkerThread`: one daemon thread that runs blocking calls in order, for the event loop.

`SQLiteStore` keeps its connection on this thread, so blocking SQLite calls
never run on the event loop, and the thread never keeps the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["WorkerThread"]

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class WorkerThread:
    """Runs the functions given to `run` one after another on a single daemon thread.

    Args:
        name: The thread's name (seen in debuggers and thread dumps).
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._started = False
        self._closed = False

    async def run(self, function: Callable[[], T]) -> T:
        """Run `function()` on the thread and return its result (or raise its exception).

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
        self._jobs.put((function, loop, future))
        return await future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            function, loop, future = job
            try:
                outcome: tuple[bool, Any] = (True, function())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                outcome = (False, exc)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, future, outcome)

    async def stop(self, final: Callable[[], object] | None = None) -> None:
        """Run `final` (e.g. close a connection) after the queued calls, then end the thread."""
        if self._closed:
            return
        if self._started and final is not None:
            await self.run(final)
        self._closed = True
        if self._started:
            self._jobs.put(None)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
