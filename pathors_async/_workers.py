"""`WorkerPool`: the daemon threads a `ToolRegistry` runs sync tools on.

Like `concurrent.futures.ThreadPoolExecutor` (bounded, threads started on demand
and reused), with two differences that matter for tools: the threads are
daemons, so a tool that never returns cannot keep the process alive at exit;
and a job that has not started can be withdrawn (`Future.cancel`) and reported
as never run.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["WorkerPool"]

_Job = tuple["Future[Any]", "Callable[[], Any]"]


class WorkerPool:
    """At most `max_threads` daemon threads taking jobs from one queue.

    Args:
        max_threads: Most threads running at once.
        name: Prefix of the threads' names.
    """

    def __init__(self, max_threads: int, name: str = "pathors-tool") -> None:
        self.max_threads = max_threads
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def submit(self, job: Callable[[], Any]) -> Future[Any]:
        """Queue a job; a thread runs it when one is free.

        Returns:
            Its future. Whatever the job raises (even ``SystemExit``) is stored
            in the future, never raised in the thread.
        """
        future: Future[Any] = Future()
        self._jobs.put((future, job))
        if not self._idle.acquire(blocking=False):
            self._start_thread()
        return future

    def _start_thread(self) -> None:
        with self._lock:
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            if len(self._threads) >= self.max_threads:
                return
            thread = threading.Thread(
                target=self._work,
                name=f"{self._name}-{len(self._threads)}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, job = item
            if future.set_running_or_notify_cancel():
                try:
                    result = job()
                except BaseException as exc:  # noqa: BLE001 - stored for the caller to report
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, job, item  # drop references while idle
            self._idle.release()

    def shutdown(self) -> None:
        """Withdraw the jobs not started and let each thread end after its current one."""
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        with self._lock:
            for _ in self._threads:
                self._jobs.put(None)
            self._threads = []
