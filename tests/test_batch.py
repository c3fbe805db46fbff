"""run_batch against the emulator: many items, a failing one and a slow one, resume, stop."""

import asyncio
import json

import pytest
from aiohttp import web

from pathors_async import Agent, AsyncPathors
from pathors_async.batch import BatchInputError, run_batch, run_item
from pathors_async.batch._items import BatchItem
from pathors_async.testing import FakePathors

from .conftest import KEY
from .rawserver import RawServer, replying, response


def write_items(path, items):
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def echo_responder(release):
    async def responder(chat):
        text = chat.messages[-1]["content"]
        if "fail" in text:
            raise web.HTTPTooManyRequests(
                text=json.dumps({"error": f"slow down ({KEY})"}), content_type="application/json"
            )
        if "slow" in text:
            await release.wait()
        return f"echo {text}"

    return responder


async def test_500_items_with_a_failing_and_a_slow_one(tmp_path, retries):
    release = asyncio.Event()
    items = [{"id": f"i{n}", "turns": [f"hello {n}", f"and then {n}"]} for n in range(498)]
    items.insert(100, {"id": "bad", "turns": ["ok first", "now fail"], "session_id": "s-bad"})
    items.insert(7, {"id": "slow", "messages": [{"role": "user", "content": "slow one"}]})
    write_items(tmp_path / "in.jsonl", items)
    seen = []

    def on_progress(progress):
        seen.append(progress)
        if progress.done == 499:
            release.set()  # everything else is written: let the slow one finish

    fake = FakePathors(api_keys=(KEY,), responder=echo_responder(release))
    async with fake, fake.client(max_connections=50) as client:
        summary = await run_batch(
            Agent(client),
            tmp_path / "in.jsonl",
            tmp_path / "out.jsonl",
            concurrency=50,
            on_progress=on_progress,
        )
    text = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert KEY not in text
    lines = read_lines(tmp_path / "out.jsonl")
    assert sorted(line["id"] for line in lines) == sorted(item["id"] for item in items)
    assert lines[-1]["id"] == "slow"  # written as it finished, not in input order
    assert lines[-1]["output"] == "echo slow one"
    assert lines[-1]["turns"] == 1
    by_id = {line["id"]: line for line in lines}
    good = by_id["i3"]
    assert good["ok"] is True
    assert good["output"] == "echo and then 3"
    assert good["turns"] == 2
    assert [m["content"] for m in good["messages"]] == [
        "hello 3",
        "echo hello 3",
        "and then 3",
        "echo and then 3",
    ]
    assert good["session_id"]
    assert set(good) == {
        "id",
        "ok",
        "output",
        "messages",
        "session_id",
        "turns",
        "usage",
        "duration_s",
    }
    bad = by_id["bad"]
    assert bad["ok"] is False
    assert bad["output"] is None
    assert bad["error"]["type"] == "RateLimitError"
    assert "slow down" in bad["error"]["message"]
    assert bad["session_id"] == "s-bad"
    assert bad["turns"] == 1  # the first turn was answered
    assert [m["content"] for m in bad["messages"]] == ["ok first", "echo ok first", "now fail"]
    assert summary.ok == 499
    assert summary.failed == {"RateLimitError": 1}
    assert summary.retries == 2  # the 429 was retried twice (the default policy)
    assert (summary.remaining, summary.skipped, summary.interrupted) == (0, 0, False)
    assert summary.p50 is not None
    assert summary.p95 is not None
    assert [p.done for p in seen] == list(range(1, 501))
    assert seen[-1].failed == 1


async def test_rerunning_skips_what_is_done_and_repairs_a_cut_line(tmp_path, client):
    write_items(tmp_path / "in.jsonl", [{"id": n, "turns": [f"q{n}"]} for n in range(5)])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": 0, "ok": true}\n{"id": "1", "ok": true}\n{"id": 2, "ok": tr')
    summary = await run_batch(Agent(client), tmp_path / "in.jsonl", out, concurrency=2)
    assert (summary.skipped, summary.ok, summary.total) == (2, 3, 5)
    lines = read_lines(out)  # every line is whole JSON again
    assert [line["id"] for line in lines[:2]] == [0, "1"]
    assert sorted(line["id"] for line in lines[2:]) == [2, 3, 4]
    again = await run_batch(Agent(client), tmp_path / "in.jsonl", out)
    assert (again.skipped, again.ok, again.remaining) == (5, 0, 0)
    assert len(read_lines(out)) == 5


async def test_malformed_lines_are_skipped_or_stop_a_strict_run(tmp_path, client, fake):
    (tmp_path / "in.jsonl").write_text(
        '{"id": "a", "turns": ["hi"]}\n{"id": "b"}\n\n{oops\n', encoding="utf-8"
    )
    out = tmp_path / "sub" / "out.jsonl"
    with pytest.raises(BatchInputError) as info:
        await run_batch(Agent(client), tmp_path / "in.jsonl", out, strict=True)
    assert [problem.line for problem in info.value.problems] == [2, 4]
    assert fake.requests == []  # stopped before the first request
    summary = await run_batch(Agent(client), tmp_path / "in.jsonl", out)
    assert summary.ok == 1
    assert summary.malformed[0].startswith("line 2: give exactly one of")
    assert summary.malformed[1].startswith("line 4: not JSON")
    assert [line["id"] for line in read_lines(out)] == ["a"]


async def test_stop_cancels_in_flight_items_and_keeps_finished_ones(tmp_path, retries):
    release = asyncio.Event()
    items = [{"id": n, "turns": ["slow" if n % 4 == 0 else f"quick {n}"]} for n in range(20)]
    write_items(tmp_path / "in.jsonl", items)
    stop = asyncio.Event()

    def on_progress(progress):
        if progress.done == 15:
            stop.set()

    async with FakePathors(responder=echo_responder(release)) as fake, fake.client() as client:
        summary = await run_batch(
            Agent(client),
            tmp_path / "in.jsonl",
            tmp_path / "out.jsonl",
            concurrency=20,
            stop=stop,
            on_progress=on_progress,
        )
        assert summary.interrupted is True
        assert (summary.ok, summary.remaining) == (15, 5)
        assert "5 remain" in summary.lines()[0]
        release.set()
        resumed = await run_batch(Agent(client), tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert (resumed.skipped, resumed.ok, resumed.interrupted) == (15, 5, False)
    ids = [line["id"] for line in read_lines(tmp_path / "out.jsonl")]
    assert sorted(ids) == list(range(20))


async def test_cancelling_the_run_keeps_finished_lines(tmp_path, retries):
    release = asyncio.Event()
    write_items(
        tmp_path / "in.jsonl",
        [{"id": n, "turns": [f"q{n}"]} for n in range(3)] + [{"id": "s", "turns": ["slow"]}],
    )
    written = asyncio.Event()

    def on_progress(progress):
        if progress.done == 3:
            written.set()

    async with FakePathors(responder=echo_responder(release)) as fake, fake.client() as client:
        run = asyncio.ensure_future(
            run_batch(
                Agent(client),
                tmp_path / "in.jsonl",
                tmp_path / "out.jsonl",
                on_progress=on_progress,
            )
        )
        await written.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        release.set()
    assert sorted(line["id"] for line in read_lines(tmp_path / "out.jsonl")) == [0, 1, 2]


async def test_an_item_that_fails_before_any_answer(client, fake):
    fake.fail_next(400, message="bad body")
    line = await run_item(
        Agent(client),
        BatchItem(id="x", messages=({"role": "user", "content": "hi"},), session_id="s-1"),
    )
    assert line["ok"] is False
    assert line["error"]["type"] == "BadRequestError"
    assert line["messages"] == [{"role": "user", "content": "hi"}]
    assert line["session_id"] == "s-1"
    assert (line["turns"], line["usage"], line["output"]) == (0, None, None)


COMPLETION = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "fine"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "session_id": "s-9",
    }
).encode()


async def test_usage_is_summed_over_the_turns_when_the_server_reports_it(tmp_path):
    write_items(tmp_path / "in.jsonl", [{"id": "u", "turns": ["a", "b"]}])
    server = RawServer(replying(response(200, COMPLETION, {"Connection": "close"})))
    async with server:
        client = AsyncPathors(api_key=KEY, project_id="p", base_url=server.url)
        async with client:
            summary = await run_batch(Agent(client), tmp_path / "in.jsonl", tmp_path / "o.jsonl")
    [line] = read_lines(tmp_path / "o.jsonl")
    assert line["usage"] == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    assert line["session_id"] == "s-9"
    assert summary.tokens == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    assert "  tokens: prompt_tokens 6, completion_tokens 4, total_tokens 10" in summary.lines()


async def test_bad_concurrency_is_refused(tmp_path, client):
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        await run_batch(Agent(client), tmp_path / "in.jsonl", tmp_path / "out.jsonl", concurrency=0)
