"""Batch runs: thousands of scripted conversations from a JSONL file, on one machine or many.

`run_batch` runs a file on one machine, resumably. `RedisBatch` spreads a job
over any number of worker processes on Redis Streams (the ``redis`` extra).
"""

from ._items import BatchInputError, BatchItem, InputProblem
from ._local import run_batch, run_item
from ._queue import RedisBatch
from ._status import JobStatus, SubmitReport, WorkerStatus
from ._summary import BatchProgress, BatchSummary

__all__ = [
    "BatchInputError",
    "BatchItem",
    "BatchProgress",
    "BatchSummary",
    "InputProblem",
    "JobStatus",
    "RedisBatch",
    "SubmitReport",
    "WorkerStatus",
    "run_batch",
    "run_item",
]
