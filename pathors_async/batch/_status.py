"""What a `RedisBatch` job reports: submit results, counts, per-worker shares (no I/O)."""

from __future__ import annotations

import attrs

__all__ = ["JobStatus", "SubmitReport", "WorkerStatus", "parse_workers"]


@attrs.frozen(kw_only=True)
class SubmitReport:
    """What `RedisBatch.submit` did.

    Attributes:
        enqueued: Items added to the job.
        already: Items whose id the job already had (not enqueued again).
        malformed: Lines skipped, as ``"line N: why"``.
    """

    enqueued: int
    already: int
    malformed: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class WorkerStatus:
    """One worker's share of a job: results it recorded, failures among them, last finish."""

    name: str
    done: int
    failed: int
    last: float | None


@attrs.frozen(kw_only=True)
class JobStatus:
    """A job's counts.

    Attributes:
        job: The job name.
        total: Items submitted.
        done: Items with a recorded result.
        failed: Recorded results that are errors.
        pending: Items a worker has taken but not finished (or that crashed).
        throughput: Results per second between the first and the last one (None
            before two).
        workers: Per-worker counts.
    """

    job: str
    total: int
    done: int
    failed: int
    pending: int
    throughput: float | None
    workers: tuple[WorkerStatus, ...] = ()

    def lines(self) -> list[str]:
        """The status as text lines."""
        rate = f"{self.throughput:.1f}/s" if self.throughput is not None else "n/a"
        out = [
            (
                f"job {self.job}: {self.done}/{self.total} done ({self.failed} failed), "
                f"{self.pending} in flight, {self.total - self.done} left, throughput {rate}"
            )
        ]
        out.extend(
            f"  worker {worker.name}: {worker.done} done, {worker.failed} failed"
            for worker in self.workers
        )
        return out


def parse_workers(raw: dict[bytes, bytes]) -> tuple[WorkerStatus, ...]:
    """Per-worker counts from the ``workers`` hash (``name:field`` -> value)."""
    fields: dict[str, dict[str, bytes]] = {}
    for key, value in raw.items():
        name, _, field = key.decode().rpartition(":")
        fields.setdefault(name, {})[field] = value
    return tuple(
        WorkerStatus(
            name=name,
            done=int(values.get("done", b"0")),
            failed=int(values.get("failed", b"0")),
            last=float(values["last"]) if "last" in values else None,
        )
        for name, values in sorted(fields.items())
    )
