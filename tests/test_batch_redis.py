"""Batch jobs on Redis Streams: submit once, many workers, a crashed one, collect each item once."""

import asyncio
import json
import signal
import sys
import uuid

import pytest

from pathors_async import Agent, AsyncPathors, StoreError
from pathors_async.batch import RedisBatch
from pathors_async.batch._summary import Tally
from pathors_async.batch._worker import Worker
from pathors_async.cli import main
from pathors_async.testing import FakePathors

from .stores_support import REPO, redis_url, worker_env
from .test_batch import echo_responder

__all__ = ["redis_url"]


def job_name():
    return f"test-{uuid.uuid4().hex[:10]}"


def write_items(path, count, *, hold=()):
    path.write_text(
        "".join(
            json.dumps({"id": n, "turns": [f"hold ticket {n}" if n in hold else f"hello {n}"]})
            + "\n"
            for n in range(count)
        )
    )


async def test_submit_work_status_collect(tmp_path, redis_url, retries):
    write_items(tmp_path / "in.jsonl", 30)
    with (tmp_path / "in.jsonl").open("a") as extra:
        extra.write('{"id": "broken"}\n')
    async with RedisBatch(redis_url, job=job_name()) as job:
        first = await job.submit(tmp_path / "in.jsonl")
        assert (first.enqueued, first.already) == (30, 0)
        assert first.malformed == (
            'line 31: give exactly one of "turns" (a list of user messages) or "messages"',
        )
        second = await job.submit(tmp_path / "in.jsonl")  # idempotent per job
        assert (second.enqueued, second.already) == (0, 30)
        before = await job.status()
        assert (before.total, before.done, before.pending, before.throughput) == (30, 0, 0, None)
        seen = []
        async with FakePathors() as fake, fake.client() as client:
            recorded = await job.work(
                Agent(client), concurrency=4, worker="w1", on_progress=seen.append
            )
        assert recorded == 30
        assert [p.done for p in seen] == list(range(1, 31))
        status = await job.status()
        assert (status.total, status.done, status.failed, status.pending) == (30, 30, 0, 0)
        assert [(w.name, w.done, w.failed) for w in status.workers] == [("w1", 30, 0)]
        assert status.lines()[0].startswith(f"job {job.job}: 30/30 done (0 failed), 0 in flight")
        assert await job.collect(tmp_path / "out.jsonl") == 30
        lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [line["id"] for line in lines] == list(range(30))  # in submission order
        assert lines[4]["output"].endswith("You said: hello 4")


async def test_calls_past_the_pool_size_wait_for_a_connection(redis_url):
    for options in ({}, {"max_connections": 2}):
        async with RedisBatch(redis_url, job=job_name(), **options) as job:
            recorded = await asyncio.gather(
                *(job.record(f"0-{i}", {"id": i, "ok": True}, f"w{i % 3}") for i in range(300))
            )
            assert all(recorded)
            assert (await job.status()).done == 300
    with pytest.raises(ValueError, match="max_connections"):
        RedisBatch(redis_url, job="j", max_connections=0)


async def test_a_result_is_recorded_once(redis_url):
    async with RedisBatch(redis_url, job=job_name()) as job:
        failed = {"id": "a", "ok": False, "error": {"type": "X", "message": "m"}}
        assert await job.record("0-1", failed, "w1") is True
        assert await job.record("0-1", {"id": "a", "ok": True}, "w2") is False
        status = await job.status()
        assert [(w.name, w.done, w.failed) for w in status.workers] == [("w1", 1, 1)]


async def test_a_stopped_worker_gives_its_items_back_at_once(tmp_path, redis_url, retries):
    write_items(tmp_path / "in.jsonl", 6)
    release = asyncio.Event()
    stop = asyncio.Event()
    name = job_name()
    async with RedisBatch(redis_url, job=name) as job:
        await job.submit(tmp_path / "in.jsonl")

        async def slow(chat):
            stop.set()  # the first request: this worker now holds items
            await release.wait()
            return "late"

        async with FakePathors(responder=slow) as fake, fake.client() as client:
            assert await job.work(Agent(client), concurrency=3, stop=stop, worker="w1") == 0
            assert (await job.status()).pending == 3
            release.set()
        fake = FakePathors(responder=echo_responder(release))
        async with fake, fake.client() as client:
            done = await job.work(Agent(client), concurrency=3, visibility_timeout=300, worker="w2")
        assert done == 6  # the 3 given back were claimed without waiting 300 s
        assert (await job.status()).done == 6


async def test_a_worker_whose_claims_cannot_be_kept_stops_and_says_why(tmp_path, redis_url, caplog):
    write_items(tmp_path / "in.jsonl", 2)
    entered, release = asyncio.Event(), asyncio.Event()
    async with RedisBatch(redis_url, job=job_name()) as job:
        await job.submit(tmp_path / "in.jsonl")

        async def slow(chat):
            entered.set()
            await release.wait()
            return "late"

        async with FakePathors(responder=slow) as fake, fake.client() as client:
            work = asyncio.ensure_future(
                job.work(Agent(client), concurrency=1, visibility_timeout=0.3, worker="w1")
            )
            await entered.wait()
            await job.redis.delete(job.stream_key)  # the next XCLAIM fails: NOGROUP
            with pytest.raises(StoreError, match="NOGROUP"):
                await asyncio.wait_for(work, 60)  # a guard: fail, not hang
            release.set()
    assert "keeping its claims failed" in caplog.text


async def test_an_item_that_fails_in_the_worker_is_logged(redis_url, caplog):
    async with RedisBatch(redis_url, job=job_name()) as job:
        await job.redis.set(job._items, "not a hash")  # loading any item fails: WRONGTYPE
        worker = Worker(
            job,
            Agent(AsyncPathors(api_key="k", project_id="p", base_url="http://127.0.0.1:9")),
            name="w1",
            concurrency=1,
            visibility_ms=1000,
            tally=Tally(total=0),
            on_progress=None,
        )
        worker._start(b"0-1", b"a")
        await asyncio.gather(*worker.in_flight.values(), return_exceptions=True)
    assert "entry 0-1 failed in worker w1" in caplog.text
    assert "WRONGTYPE" in caplog.text


async def test_three_workers_one_killed_every_item_once(tmp_path, redis_url):
    name = job_name()
    write_items(tmp_path / "in.jsonl", 300, hold=range(4))
    common = ("--redis", redis_url, "--job", name)
    assert (
        await asyncio.to_thread(main, ["batch", "submit", str(tmp_path / "in.jsonl"), *common]) == 0
    )

    async def worker(worker_name, *, hold):
        env = worker_env() | ({"BATCH_TEST_HOLD": "1"} if hold else {})
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pathors_async",
            "batch",
            "work",
            *common,
            "--emulator",
            "--agent",
            "tests.batch_agents:make_holding_agent",
            "--concurrency",
            "8",
            "--visibility-timeout",
            "1",
            "--worker",
            worker_name,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=REPO,
        )

    doomed = await worker("doomed", hold=True)
    assert doomed.stdout is not None
    holding = 0
    while holding < 4:  # it took the first items and is stuck on them
        line = (await doomed.stdout.readline()).decode()
        assert line, (await doomed.stderr.read()).decode()
        holding += line.startswith("holding ")
    doomed.send_signal(signal.SIGKILL)
    await doomed.wait()
    survivors = [await worker(f"w{n}", hold=False) for n in (1, 2)]
    outputs = [await process.communicate() for process in survivors]
    for process, (_, err) in zip(survivors, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    out = tmp_path / "out.jsonl"
    assert await asyncio.to_thread(main, ["batch", "collect", *common, "-o", str(out)]) == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == list(range(300))  # every item exactly once, in submission order
    held = [json.loads(line) for line in out.read_text().splitlines()][:4]
    assert all(line["ok"] and "held " in json.dumps(line["messages"]) for line in held)
    async with RedisBatch(redis_url, job=name) as job:
        status = await job.status()
    assert (status.done, status.pending) == (300, 0)
    assert sum(w.done for w in status.workers) == 300
    assert {w.name for w in status.workers} <= {"doomed", "w1", "w2"}


def test_status_and_collect_commands(tmp_path, redis_url, capsys):
    name = job_name()
    common = ["--redis", redis_url, "--job", name]
    write_items(tmp_path / "in.jsonl", 3)
    with (tmp_path / "in.jsonl").open("a") as extra:
        extra.write("{oops\n")
    assert main(["batch", "submit", str(tmp_path / "in.jsonl"), *common]) == 1
    out = capsys.readouterr().out
    assert f"job {name}: 3 enqueued, 0 already there" in out
    assert "skipped malformed line 4: not JSON" in out
    assert main(["batch", "collect", *common, "-o", str(tmp_path / "o.jsonl")]) == 1
    assert "3 item(s) have no result yet" in capsys.readouterr().out
    assert main(["batch", "work", *common, "--emulator", "--worker", "cli"]) == 0
    out = capsys.readouterr().out
    assert "worker cli: recorded 3 result(s)" in out
    assert main(["batch", "status", *common]) == 0
    out = capsys.readouterr().out
    assert f"job {name}: 3/3 done (0 failed), 0 in flight, 0 left" in out
    assert "  worker cli: 3 done, 0 failed" in out


def test_a_job_name_is_checked(redis_url):
    with pytest.raises(ValueError, match="job must be a non-empty name"):
        RedisBatch(redis_url, job="a{b}")


async def test_an_unreachable_redis_is_a_store_error(tmp_path):
    write_items(tmp_path / "in.jsonl", 1)
    async with RedisBatch("redis://127.0.0.1:9/0", job="j") as job:
        for call in (job.status(), job.submit(tmp_path / "in.jsonl"), job.collect(tmp_path / "o")):
            with pytest.raises(StoreError, match=r"Redis batch job 'j' failed: .*check that"):
                await call


def test_the_commands_report_an_unreachable_redis(capsys):
    assert main(["batch", "status", "--redis", "redis://127.0.0.1:9/0", "--job", "j"]) == 2
    assert "error: Redis batch job 'j' failed: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (["submit", "nonexist.jsonl"], "error: [Errno 2] No such file or directory: 'nonexist"),
        (["status", "--job", "a{b"], "error: job must be a non-empty name without braces"),
        (["collect", "-o", "/proc/x/out.jsonl"], "error: [Errno 2] No such file or directory"),
    ],
)
def test_bad_job_arguments_are_one_line_without_a_traceback(redis_url, capsys, command, text):
    args = ["batch", *command, "--redis", redis_url]
    if "--job" not in command:
        args += ["--job", job_name()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(text), err
    assert err.count("\n") == 1
