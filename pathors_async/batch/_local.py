"""`run_batch`: one machine, JSONL in, JSONL out as each item finishes, resumable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pathors_async._converter import unstructure, unstructure_messages
from pathors_async._json import dumps
from pathors_async._state import RunResult, sum_usage

from ._items import BatchInputError, BatchItem, InputProblem, done_ids, item_key, parse_lines
from ._summary import BatchSummary, ProgressHook, Tally, check_concurrency, counting_retries

if TYPE_CHECKING:
    from pathors_async._agent import Agent

__all__ = ["read_items", "run_batch", "run_item"]


def _usage(results: list[RunResult]) -> dict[str, int] | None:
    if not results:
        return None
    usage = unstructure(sum_usage([result.usage for result in results]))
    counts = {name: value for name, value in usage.items() if isinstance(value, int)}
    return counts or None


async def run_item(agent: Agent, item: BatchItem) -> dict[str, Any]:
    """Run one item's conversation and describe how it went, as its output line's dict.

    An error ends the item, never the caller: it is recorded as ``"error":
    {"type", "message"}`` with the transcript as far as it got. Cancellation is
    not an error: it propagates.

    Args:
        agent: The agent that answers.
        item: The item.

    Returns:
        ``{"id", "ok", "output", "messages", "session_id", "turns", "usage",
        "duration_s"}`` and ``"error"`` when it failed.
    """
    started = time.perf_counter()
    results: list[RunResult] = []
    conversation = None
    error: dict[str, str] | None = None
    failed_messages = None
    try:
        if item.turns is not None:
            conversation = agent.conversation(session_id=item.session_id)
            for turn in item.turns:
                result = await conversation.send(turn, deps=item.deps)
                results.append(result)
        else:
            messages = list(item.messages or ())
            results.append(await agent.run(messages, session_id=item.session_id, deps=item.deps))
    except Exception as exc:  # noqa: BLE001 - one item's failure must never stop the batch
        error = {"type": type(exc).__name__, "message": str(exc)}
        failed_messages = getattr(exc, "messages", None)
    if conversation is not None:
        messages_out: Any = unstructure_messages(conversation.messages)
        session_id = conversation.session_id
    elif results:
        messages_out = unstructure_messages(results[-1].messages)
        session_id = results[-1].session_id
    else:
        messages_out = unstructure_messages(failed_messages) if failed_messages else []
        session_id = item.session_id
    line: dict[str, Any] = {
        "id": item.id,
        "ok": error is None,
        "output": results[-1].output if results and error is None else None,
        "messages": messages_out,
        "session_id": session_id,
        "turns": sum(result.turns for result in results),
        "usage": _usage(results),
        "duration_s": round(time.perf_counter() - started, 6),
    }
    if error is not None:
        line["error"] = error
    return line


def read_items(input_path: str | os.PathLike[str]) -> tuple[list[BatchItem], list[InputProblem]]:
    """Read a JSONL input file: its items and its malformed lines."""
    with Path(input_path).open(encoding="utf-8", errors="replace") as lines:
        return parse_lines(lines)


def _open_output(output_path: Path) -> tuple[IO[bytes], set[str]]:
    """Open the output for appending; the ids already there; a cut-off last line dropped."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output = output_path.open("a+b")
    output.seek(0)
    finished, keep = done_ids(output.read())
    output.truncate(keep)
    output.seek(keep)
    return output, finished


async def _work(
    agent: Agent,
    todo: Iterator[BatchItem],
    output: IO[bytes],
    tally: Tally,
    on_progress: ProgressHook | None,
) -> None:
    for item in todo:
        result = await run_item(agent, item)
        # no await from here on: a finished item is written before anything can cancel it
        output.write(dumps(result) + b"\n")
        output.flush()
        tally.add(result)
        if on_progress is not None:
            on_progress(tally.progress())


async def run_batch(
    agent: Agent,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    concurrency: int = 50,
    strict: bool = False,
    stop: asyncio.Event | None = None,
    on_progress: ProgressHook | None = None,
) -> BatchSummary:
    """Run every conversation of a JSONL file; write one JSONL result line as each finishes.

    Input lines: ``{"id", "turns": [...]}`` (user messages sent one after another
    on one `Conversation`) or ``{"id", "messages": [...]}`` (one ``agent.run``),
    with optional ``"session_id"`` and ``"deps"``. Output lines: ``{"id", "ok",
    "output", "messages", "session_id", "turns", "usage", "duration_s"}``, plus
    ``"error": {"type", "message"}`` for an item that failed (the batch goes
    on). Ids already in `output_path` are skipped, so running again resumes.

    Args:
        agent: The agent (and through it the client) every item runs on.
        input_path: The JSONL input.
        output_path: The JSONL output, appended to (created if missing).
        concurrency: Most items running at once.
        strict: Raise `BatchInputError` before the first request if any line is
            malformed (default: report them in the summary and skip them).
        stop: When set, in-flight items are cancelled and the run returns
            (``interrupted=True``); finished lines are all kept.
        on_progress: Called with a `BatchProgress` after every finished item.

    Returns:
        The `BatchSummary`.

    Raises:
        BatchInputError: `strict` and some lines are malformed.
        ValueError: `concurrency` is not a positive int.
        OSError: The input cannot be read or the output written.
        asyncio.CancelledError: The run was cancelled; finished lines are kept.
    """
    check_concurrency(concurrency)
    items, problems = read_items(input_path)
    if strict and problems:
        raise BatchInputError(problems)
    output, finished = _open_output(Path(output_path))
    with output:
        todo = [item for item in items if item_key(item.id) not in finished]
        tally = Tally(total=len(todo))
        queue = iter(todo)
        with counting_retries(tally):
            interrupted = await _run_workers(
                [_work(agent, queue, output, tally, on_progress) for _ in range(concurrency)],
                stop,
            )
    return tally.summary(
        skipped=len(items) - len(todo), malformed=tuple(map(str, problems)), interrupted=interrupted
    )


async def _run_workers(workers: list[Any], stop: asyncio.Event | None) -> bool:
    """Run the workers to the end, or until `stop` is set (True: stopped early)."""
    tasks = [asyncio.ensure_future(worker) for worker in workers]
    everything = asyncio.gather(*tasks)
    everything.add_done_callback(_retrieve)  # cancelled with the workers: nothing to report
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        waiting: set[asyncio.Future[Any]] = {everything}
        if stopping is not None:
            waiting.add(stopping)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupted = not everything.done()
        for task in tasks:
            task.cancel()
        if stopping is not None:
            stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
    if not interrupted:
        everything.result()  # an I/O error in a worker is raised here
    return interrupted


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark `future`'s outcome seen (`_run_workers` raises it itself when it matters)."""
    if not future.cancelled():
        future.exception()
