"""Running one tool call: an async tool as a task, a sync one on a worker thread.

The caller waits on one future (the "waiter") that three things may resolve:
the tool finishing, its timeout, or the registry closing. So a timeout or
`ToolRegistry.aclose` answers the caller at once, even when the tool ignores
cancellation or its thread cannot be stopped, and never cancels the caller.
Whatever the tool raises, ``SystemExit`` and ``CancelledError`` included, is a
`Failed` for the model to read; only the caller's own cancellation propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import sys
from typing import TYPE_CHECKING, Any, Final, NoReturn

from ._dispatch import Failed, exception_text
from ._models import ToolFailure

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from concurrent.futures import Future

    from ._workers import WorkerPool

__all__ = ["Running", "invoke"]

logger: Final = logging.getLogger("pathors_async")

#: Longest wait, in seconds, for an async tool to stop once cancelled at its timeout.
MAX_CANCEL_GRACE: Final = 1.0


class _ToolExit(Exception):  # noqa: N818 - carries a tool's SystemExit out of its task
    """A tool raised ``SystemExit``; a task would re-raise it out of the event loop."""


class Running:
    """One call in flight, so that `ToolRegistry.aclose` can answer it.

    `work` is the tool's own task or thread job, and the caller waits on
    `waiter`; or, for an async tool run inline, `work` is the caller's task and
    `waiter` is None (closing cancels the task, and `invoke` takes the
    cancellation back with ``uncancel``).
    """

    __slots__ = ("closed", "waiter", "work")

    def __init__(
        self, waiter: asyncio.Future[None] | None, work: asyncio.Task[Any] | Future[Any]
    ) -> None:
        self.waiter = waiter
        self.work = work
        self.closed = False

    def close(self) -> None:
        """Answer the caller now (CANCELLED) and cancel the tool."""
        self.closed = True
        self.work.cancel()
        if self.waiter is not None:  # the tool's own task or job, not the caller's task
            if isinstance(self.work, asyncio.Task):
                self.work.add_done_callback(_retrieve)
            _wake(self.waiter)


def _wake(waiter: asyncio.Future[None], *_: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _wake_from_thread(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(_wake, waiter)


async def _contained(function: Callable[..., Coroutine[Any, Any, Any]], kwargs: Any) -> Any:  # noqa: ANN401
    try:
        return await function(**kwargs)
    except SystemExit as exc:
        raise _ToolExit from exc


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Done callback of an abandoned task: its outcome is not wanted (nor logged by asyncio)."""
    if not task.cancelled():
        task.exception()


async def invoke(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    name: str,
    is_async: bool,
    timeout: float | None,
    pool: Callable[[], WorkerPool],
    running: set[Running],
) -> Any:  # noqa: ANN401 - whatever the tool returns
    """Run the tool: as a task, or on a worker thread; enforce the timeout.

    Args:
        function: The tool's function.
        kwargs: Its keyword arguments.
        name: The tool's name, for messages.
        is_async: Whether `function` is a coroutine function.
        timeout: Seconds it may take, or None.
        pool: Returns the worker pool (started on first use).
        running: The registry's calls in flight; this call is in it while it runs.

    Returns:
        What the tool returned.

    Raises:
        Failed: It raised (the traceback is logged), ran out of time, could not
            start in time, or its registry was closed.
        asyncio.CancelledError: The caller was cancelled (the tool is cancelled with it).
    """
    if sys.version_info >= (3, 11) and is_async and timeout is None:
        return await _inline(function, kwargs, name, running)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    work = _start(function, kwargs, is_async=is_async, pool=pool, waiter=waiter)
    record = Running(waiter, work)
    running.add(record)
    timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
    try:
        await waiter
    except asyncio.CancelledError:
        work.cancel()
        if isinstance(work, asyncio.Task):
            work.add_done_callback(_retrieve)
        raise
    finally:
        running.discard(record)
        if timer is not None:
            timer.cancel()
    if record.closed:
        raise _closed(name)
    if not work.done():
        assert timeout is not None  # noqa: S101 - only a timeout wakes the waiter early
        if isinstance(work, asyncio.Task):
            raise await _stop(work, name, timeout, running)
        if work.cancel():  # it had not started: now it never will
            raise _not_started(name, timeout, pool())
        raise _still_running(name, timeout)
    return _outcome(work, name)


def _start(
    function: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    is_async: bool,
    pool: Callable[[], WorkerPool],
    waiter: asyncio.Future[None],
) -> asyncio.Task[Any] | Future[Any]:
    """Start the tool as a task or a thread job; its end wakes `waiter`."""
    loop = waiter.get_loop()
    if is_async:
        task = loop.create_task(_contained(function, kwargs))
        task.add_done_callback(functools.partial(_wake, waiter))
        return task
    job = functools.partial(contextvars.copy_context().run, function, **kwargs)
    future = pool().submit(job)
    future.add_done_callback(lambda _: _wake_from_thread(loop, waiter))
    return future


if sys.version_info >= (3, 11):  # Task.cancelling() and Task.uncancel()

    async def _inline(
        function: Callable[..., Coroutine[Any, Any, Any]],
        kwargs: dict[str, Any],
        name: str,
        running: set[Running],
    ) -> Any:  # noqa: ANN401
        """Await an async tool without a timeout in the caller's own task (no task to start).

        Python 3.11+ only: ``Task.cancelling()`` tells the caller's cancellation from
        a ``CancelledError`` the tool raised itself, and ``uncancel()`` takes back
        the cancellation used to stop the tool when the registry is closed.
        """
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - called from a coroutine in a task
        base = task.cancelling()
        record = Running(None, task)
        running.add(record)
        try:
            value = await function(**kwargs)
        except (asyncio.CancelledError, SystemExit, GeneratorExit, Exception) as exc:  # noqa: BLE001
            _settle(task, base, record, name, exc)
        finally:
            running.discard(record)
        if record.closed or task.cancelling() > base:  # it returned, though cancelled
            _settle(task, base, record, name, None)
        return value

    def _settle(
        task: asyncio.Task[Any],
        base: int,
        record: Running,
        name: str,
        raised: BaseException | None,
    ) -> NoReturn:
        """Raise what an inline call ends with: closed, the caller's cancellation, or a failure.

        A cancellation of the caller wins over whatever the tool made of it (an
        error, a value): the caller's ``asyncio.timeout`` or cancel scope must see it.
        """
        if record.closed and task.uncancel() == base:
            raise _closed(name) from None
        if record.closed or task.cancelling() > base:
            if isinstance(raised, asyncio.CancelledError):
                raise raised
            raise asyncio.CancelledError from raised
        assert raised is not None  # noqa: S101 - only a failure gets here otherwise
        raise _raised(name, raised) from raised


async def _stop(
    task: asyncio.Task[Any], name: str, timeout: float, running: set[Running]
) -> Failed:
    """Cancel a task at its timeout; wait a little for its cleanup, not for ever."""
    task.cancel()
    task.add_done_callback(_retrieve)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    task.add_done_callback(functools.partial(_wake, waiter))
    record = Running(waiter, task)
    running.add(record)  # until it ends, so that closing the registry cancels it again
    task.add_done_callback(lambda _: running.discard(record))
    timer = loop.call_later(min(timeout, MAX_CANCEL_GRACE), _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
    if task.done():
        return Failed(
            ToolFailure.TIMEOUT,
            f"The tool {name!r} did not finish within {timeout:g} s and was stopped.",
        )
    return Failed(
        ToolFailure.TIMEOUT,
        f"The tool {name!r} did not finish within {timeout:g} s and did not stop when "
        "cancelled; its result will not be sent.",
    )


def _closed(name: str) -> Failed:
    return Failed(
        ToolFailure.CANCELLED,
        f"The tool {name!r} was cancelled before it finished because its registry was "
        "closed; its result is unknown.",
    )


def _raised(name: str, raised: BaseException) -> Failed:
    logger.error("tool %r raised %s", name, type(raised).__name__, exc_info=raised)
    return Failed(ToolFailure.EXCEPTION, f"The tool {name!r} failed: {exception_text(raised)}")


def _not_started(name: str, timeout: float, pool: WorkerPool) -> Failed:
    return Failed(
        ToolFailure.TIMEOUT,
        f"The tool {name!r} did not start within {timeout:g} s because all "
        f"{pool.max_threads} worker threads were busy, so it was not run. Try again later.",
    )


def _still_running(name: str, timeout: float) -> Failed:
    return Failed(
        ToolFailure.TIMEOUT,
        f"The tool {name!r} did not finish within {timeout:g} s. It may still be "
        "running, but its result will not be sent.",
    )


def _outcome(work: asyncio.Task[Any] | Future[Any], name: str) -> Any:  # noqa: ANN401
    """The finished tool's value, or the `Failed` for what it raised."""
    if work.cancelled():  # nobody cancelled it: the tool raised CancelledError itself
        raised: BaseException = asyncio.CancelledError()
    else:
        exception = work.exception()
        if exception is None:
            return work.result()
        raised = exception.__cause__ or exception if isinstance(exception, _ToolExit) else exception
    raise _raised(name, raised) from raised
