"""RateLimit shared through Redis by real processes (``tests/rate_worker.py``).

Three workers share ``RateLimit(requests_per_minute=..., shared=RedisStore(...))``
and send as fast as it lets them; the emulator in this process records when each
request arrived, on one clock. The checks are correctness bounds on those times
(never more than the budget plus the burst in any second; nothing while a 429's
pause holds), not speed assertions. The test and the workers synchronise through
pipes and the emulator's request count, never through sleeps.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator

import pytest

from pathors_async.testing import FakePathors

from .stores_support import REPO, redis_url, unique_prefix, worker_env

__all__ = ["redis_url"]

WORKER = ["-W", "error", "-m", "tests.rate_worker"]
WORKERS = 3
RPM = 120  # issue 10: 3 processes sharing RateLimit(requests_per_minute=120) for 10 s
SECONDS = 10
PAUSE_SECONDS = 4  # the 429 test: long enough to see a 2 s pause and the sending after it


@pytest.fixture
async def emulator() -> AsyncIterator[FakePathors]:
    async with FakePathors() as fake:
        yield fake


async def start_workers(
    emulator: FakePathors,
    redis: str,
    *,
    rpm: float,
    seconds: float,
    concurrency: int,
    mode: tuple[str, ...] = (),
) -> list[asyncio.subprocess.Process]:
    import sys  # noqa: PLC0415 - only here

    prefix = unique_prefix()
    workers = []
    for number in range(WORKERS):
        args = [emulator.url, redis, prefix, f"w{number}", str(rpm), str(seconds), str(concurrency)]
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                *WORKER,
                *args,
                *mode,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=worker_env(),
                cwd=REPO,
            )
        )
    for worker in workers:
        assert worker.stdout is not None
        line = await worker.stdout.readline()
        if line.strip() != b"ready":
            assert worker.stderr is not None
            pytest.fail(f"worker not ready: {line!r}\n{(await worker.stderr.read()).decode()}")
    for worker in workers:  # all start together
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
    return workers


async def finish(workers: list[asyncio.subprocess.Process]) -> list[dict[str, object]]:
    summaries = []
    for worker in workers:
        out, err = await worker.communicate()
        assert worker.returncode == 0, err.decode()
        summaries.append(json.loads(out))
    return summaries


def most_in_one_second(times: list[float]) -> int:
    return max(len([t for t in times if start <= t < start + 1]) for start in times)


async def test_three_processes_share_one_budget(emulator, redis_url):
    workers = await start_workers(emulator, redis_url, rpm=RPM, seconds=SECONDS, concurrency=2)
    summaries = await finish(workers)
    assert [summary["errors"] for summary in summaries] == [[]] * WORKERS
    assert all(summary["sent"] for summary in summaries)  # each worker had its share
    times = [request.received_at for request in emulator.requests]
    per_second = RPM / 60
    burst = math.ceil(per_second)  # RateLimit's default burst: one second's worth
    assert most_in_one_second(times) <= per_second + burst
    # the whole run too: the burst, then the rate, however the workers raced
    assert len(times) <= burst + per_second * (max(times) - min(times)) + 1


async def test_a_429_seen_by_one_process_pauses_the_others(emulator, redis_url):
    workers = await start_workers(
        emulator, redis_url, rpm=600, seconds=PAUSE_SECONDS, concurrency=1
    )
    await emulator.wait_for_requests(2 * WORKERS)  # every worker is sending
    rejected_index = len(emulator.requests)  # the next request to arrive gets the 429
    emulator.fail_next(429, retry_after=2)
    await finish(workers)
    requests = emulator.requests
    rejected = requests[rejected_index]
    who = rejected.headers["X-Worker"]
    start = rejected.received_at
    during = [r for r in requests if start + 0.5 <= r.received_at < start + 1.9]
    # requests already on their way when the 429 came may land in its first half second;
    # after that, nobody sends until the pause is over
    assert [(r.headers["X-Worker"], r.received_at - start) for r in during] == []
    after = {r.headers["X-Worker"] for r in requests if r.received_at >= start + 1.9}
    assert after == {f"w{n}" for n in range(WORKERS)}  # the others were delayed, not stopped
    assert who in after
