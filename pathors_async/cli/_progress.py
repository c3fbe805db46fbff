"""Progress of a batch: a rich bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from typing_extensions import Self

    from pathors_async.batch import BatchProgress

__all__ = ["PlainProgress", "RichProgress", "progress_for"]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def describe(progress: BatchProgress, label: str) -> str:
    """One plain progress line."""
    counted = f"{progress.done}/{progress.total}" if progress.total else f"{progress.done}"
    eta = f", ETA {_eta(progress.eta)}" if progress.total else ""
    return (
        f"{label}: {counted} done, {progress.failed} failed, {progress.retries} retries, "
        f"{progress.rate:.1f}/s{eta}"
    )


class PlainProgress:
    """Prints a progress line at most every `every` seconds, and always the last one."""

    def __init__(self, label: str, *, every: float = 2.0, stream: TextIO | None = None) -> None:
        self.label = label
        self.every = every
        self.stream = stream or sys.stdout
        self._last = float("-inf")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __call__(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self._last >= self.every or progress.done == progress.total:
            self._last = now
            print(describe(progress, self.label), file=self.stream, flush=True)


class RichProgress:
    """A rich progress bar: done/total, rate, ETA, failures and retries."""

    def __init__(self, label: str, total: int | None) -> None:
        from rich.progress import (  # noqa: PLC0415 - the cli extra is optional
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.1f}/s"),
            TimeRemainingColumn(),
            TextColumn("[red]{task.fields[failed]} failed[/] {task.fields[retries]} retries"),
        )
        self._task = self._bar.add_task(label, total=total, rate=0.0, failed=0, retries=0)

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def __call__(self, progress: BatchProgress) -> None:
        self._bar.update(
            self._task,
            total=progress.total or None,
            completed=progress.done,
            rate=progress.rate,
            failed=progress.failed,
            retries=progress.retries,
        )


def progress_for(label: str, total: int | None, *, every: float) -> Any:  # noqa: ANN401
    """A rich bar when stdout is a terminal and rich is installed; plain lines otherwise."""
    if sys.stdout.isatty():  # pragma: no cover - tests run without a terminal
        try:
            return RichProgress(label, total)
        except ImportError:
            pass
    return PlainProgress(label, every=every)
