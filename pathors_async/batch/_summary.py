"""Counting a batch as it runs: progress snapshots, the final summary, retries seen."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs

__all__ = [
    "BatchProgress",
    "BatchSummary",
    "Tally",
    "check_concurrency",
    "counting_retries",
    "percentile",
]

#: Called with a snapshot after every finished item.
ProgressHook = Callable[["BatchProgress"], None]


def check_concurrency(value: object) -> int:
    """`value` if it is a positive int.

    Raises:
        ValueError: It is not.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency must be a positive int, got {value!r}")
    return value


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@attrs.frozen(kw_only=True)
class BatchProgress:
    """Where a running batch is.

    Attributes:
        total: Items this run has to do (ids already in the output are not counted).
        done: Items finished so far, failed ones included.
        failed: Items that ended with an error so far.
        retries: Requests retried so far (see `RetryPolicy`).
        elapsed: Seconds since the run started.
    """

    total: int
    done: int
    failed: int
    retries: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Items per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before the first item)."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@attrs.frozen(kw_only=True)
class BatchSummary:
    """How a batch run ended.

    Attributes:
        total: Valid items in the input.
        skipped: Items already in the output file (resumed), not run again.
        ok: Items that finished without an error in this run.
        failed: Items that ended with an error, by error type name.
        remaining: Items not done when the run stopped (0 unless interrupted).
        interrupted: True when the run was stopped (signal, cancellation) before the end.
        malformed: Input lines skipped, as ``"line N: why"``.
        retries: Requests retried during the run.
        elapsed: Seconds the run took.
        p50: Median seconds per item, or None.
        p95: 95th percentile seconds per item, or None.
        tokens: Token counts summed over the items that reported them
            (``prompt_tokens``, ``completion_tokens``, ``total_tokens``); empty
            when none did.
    """

    total: int
    skipped: int
    ok: int
    failed: Mapping[str, int]
    remaining: int
    interrupted: bool
    malformed: tuple[str, ...] = ()
    retries: int = 0
    elapsed: float = 0.0
    p50: float | None = None
    p95: float | None = None
    tokens: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def failed_count(self) -> int:
        """Items that ended with an error."""
        return sum(self.failed.values())

    def lines(self) -> list[str]:
        """The summary as text lines, for a terminal or a log."""
        done = self.ok + self.failed_count
        rate = done / self.elapsed if self.elapsed > 0 else 0.0
        out = [
            (
                f"{'interrupted' if self.interrupted else 'finished'}: {done} item(s) in "
                f"{self.elapsed:.1f} s ({rate:.1f}/s): {self.ok} ok, "
                f"{self.failed_count} failed, {self.skipped} already done, "
                f"{self.remaining} remain"
            )
        ]
        out.extend(f"  failed with {name}: {count}" for name, count in sorted(self.failed.items()))
        if self.p50 is not None and self.p95 is not None:
            out.append(f"  duration per item: p50 {self.p50:.3f} s, p95 {self.p95:.3f} s")
        if self.tokens:
            out.append("  tokens: " + ", ".join(f"{k} {v}" for k, v in self.tokens.items()))
        if self.retries:
            out.append(f"  retries: {self.retries}")
        out.extend(f"  skipped malformed {problem}" for problem in self.malformed)
        if self.remaining:
            out.append("  run the same command again to resume: finished ids are skipped")
        return out


@attrs.define
class Tally:
    """The counts a run updates as items finish (mutable; one per run)."""

    total: int
    started: float = attrs.field(factory=time.monotonic)
    ok: int = 0
    failed: Counter[str] = attrs.field(factory=Counter)
    durations: list[float] = attrs.field(factory=list)
    tokens: Counter[str] = attrs.field(factory=Counter)
    retries: int = 0

    def add(self, result: Mapping[str, Any]) -> None:
        """Count one result line."""
        error = result.get("error")
        if error:
            self.failed[str(error.get("type", "Error"))] += 1
        else:
            self.ok += 1
        self.durations.append(float(result.get("duration_s") or 0.0))
        for name, value in (result.get("usage") or {}).items():
            if isinstance(value, int):
                self.tokens[name] += value

    def progress(self) -> BatchProgress:
        """A snapshot for a progress display."""
        return BatchProgress(
            total=self.total,
            done=self.ok + sum(self.failed.values()),
            failed=sum(self.failed.values()),
            retries=self.retries,
            elapsed=time.monotonic() - self.started,
        )

    def summary(
        self, *, skipped: int, malformed: tuple[str, ...], interrupted: bool
    ) -> BatchSummary:
        """The final summary."""
        done = self.ok + sum(self.failed.values())
        return BatchSummary(
            total=self.total + skipped,
            skipped=skipped,
            ok=self.ok,
            failed=dict(self.failed),
            remaining=self.total - done,
            interrupted=interrupted,
            malformed=malformed,
            retries=self.retries,
            elapsed=time.monotonic() - self.started,
            p50=percentile(self.durations, 0.5),
            p95=percentile(self.durations, 0.95),
            tokens=dict(self.tokens),
        )


class _RetryFilter(logging.Filter):
    """Counts the transport's "retrying …" records; lets through only what would have passed."""

    def __init__(self, tally: Tally, level: int) -> None:
        super().__init__()
        self.tally = tally
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("retrying "):
            self.tally.retries += 1
        return record.levelno >= self.level


@contextmanager
def counting_retries(tally: Tally) -> Iterator[None]:
    """Count retried requests into `tally` while the block runs.

    The transport logs each retry at INFO on the ``pathors_async`` logger. The
    logger is opened to INFO for the block, and a filter counts the retry
    records and drops those the logger's own level would have dropped, so what
    reaches the application's handlers does not change.
    """
    logger = logging.getLogger("pathors_async")
    saved = logger.level
    retry_filter = _RetryFilter(tally, logger.getEffectiveLevel())
    logger.addFilter(retry_filter)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeFilter(retry_filter)
        logger.setLevel(saved)
