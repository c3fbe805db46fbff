"""The pure parts of batch runs: input lines, resume points, the summary, retry counting."""

import json
import logging

import pytest

from pathors_async.batch import BatchInputError, BatchItem, BatchSummary, InputProblem
from pathors_async.batch._items import done_ids, parse_lines
from pathors_async.batch._summary import Tally, check_concurrency, counting_retries, percentile


def test_valid_lines_become_items():
    lines = [
        json.dumps({"id": "a", "turns": ["hi", {"role": "user", "content": "then?"}]}),
        "",
        json.dumps({"id": 7, "messages": [{"role": "user", "content": "x"}], "deps": {"k": 1}}),
        json.dumps({"id": "c", "turns": ["x"], "session_id": "s-1"}),
    ]
    items, problems = parse_lines(lines)
    assert problems == []
    assert items == [
        BatchItem(id="a", turns=("hi", {"role": "user", "content": "then?"}), line=1),
        BatchItem(id=7, messages=({"role": "user", "content": "x"},), deps={"k": 1}, line=3),
        BatchItem(id="c", turns=("x",), session_id="s-1", line=4),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"turns": ["hi"]}', '"id" must be a non-empty string or an integer'),
        ('{"id": true, "turns": ["hi"]}', '"id" must be'),
        ('{"id": "", "turns": ["hi"]}', '"id" must be'),
        ('{"id": "a"}', 'give exactly one of "turns"'),
        ('{"id": "a", "turns": ["x"], "messages": []}', "give exactly one"),
        ('{"id": "a", "turns": []}', '"turns" must be a non-empty list'),
        ('{"id": "a", "turns": "hi"}', '"turns" must be a non-empty list'),
        ('{"id": "a", "turns": [3]}', '"turns"[0] must be a string or a message object'),
        ('{"id": "a", "messages": ["hi"]}', '"messages"[0] must be a message object'),
        ('{"id": "a", "turns": ["x"], "session_id": 5}', '"session_id" must be a string'),
        ('{"id": "a", "turns": ["x"], "session_id": "a\\nb"}', "control characters"),
    ],
)
def test_a_malformed_line_is_reported_with_its_number(line, message):
    items, problems = parse_lines(['{"id": "ok", "turns": ["hi"]}', line])
    assert [item.id for item in items] == ["ok"]
    [problem] = problems
    assert problem.line == 2
    assert message in problem.message
    assert str(problem).startswith("line 2: ")


def test_a_repeated_id_keeps_the_first():
    items, problems = parse_lines(['{"id": 1, "turns": ["a"]}', '{"id": "1", "turns": ["b"]}'])
    assert [item.turns for item in items] == [("a",)]
    assert problems == [InputProblem(line=2, message="id '1' repeats line 1")]


def test_the_strict_error_lists_the_problems():
    problems = [InputProblem(line=n, message="bad") for n in range(1, 8)]
    error = BatchInputError(problems)
    assert error.problems == problems
    assert str(error).startswith("7 malformed input line(s): line 1: bad; line 2: bad;")
    assert "(and 2 more)" in str(error)
    assert "run without strict to skip them" in str(error)


def test_done_ids_ignore_a_line_cut_by_a_crash():
    data = b'{"id": "a", "ok": true}\nnot json\n{"id": 2}\n[1]\n{"id": "cut'
    ids, keep = done_ids(data)
    assert ids == {"a", "2"}
    assert data[:keep].endswith(b"[1]\n")
    assert done_ids(b"") == (set(), 0)


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([5.0], 0.95) == 5.0


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3"])
def test_concurrency_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        check_concurrency(value)


def test_the_summary_counts_and_reads_well():
    tally = Tally(total=4)
    tally.add({"ok": True, "duration_s": 1.0, "usage": {"prompt_tokens": 3, "total_tokens": 5}})
    tally.add({"ok": True, "duration_s": 2.0, "usage": None})
    tally.add({"ok": False, "duration_s": 3.0, "error": {"type": "RateLimitError"}})
    tally.retries = 2
    progress = tally.progress()
    assert (progress.total, progress.done, progress.failed, progress.retries) == (4, 3, 1, 2)
    summary = tally.summary(skipped=1, malformed=("line 9: bad",), interrupted=True)
    assert (summary.total, summary.ok, summary.failed_count, summary.remaining) == (5, 2, 1, 1)
    assert (summary.p50, summary.p95) == (2.0, 3.0)
    assert summary.tokens == {"prompt_tokens": 3, "total_tokens": 5}
    text = "\n".join(summary.lines())
    assert "interrupted: 3 item(s) in" in text
    assert "2 ok, 1 failed, 1 already done, 1 remain" in text
    assert "failed with RateLimitError: 1" in text
    assert "duration per item: p50 2.000 s, p95 3.000 s" in text
    assert "tokens: prompt_tokens 3, total_tokens 5" in text
    assert "retries: 2" in text
    assert "skipped malformed line 9: bad" in text
    assert "run the same command again to resume" in text


def test_an_empty_summary():
    summary = BatchSummary(total=0, skipped=0, ok=0, failed={}, remaining=0, interrupted=False)
    assert summary.lines() == [
        "finished: 0 item(s) in 0.0 s (0.0/s): 0 ok, 0 failed, 0 already done, 0 remain"
    ]
    progress = Tally(total=0).progress()
    assert progress.rate == 0.0 or progress.elapsed > 0
    assert progress.eta is None


def test_retries_are_counted_without_changing_what_handlers_see(caplog):
    logger = logging.getLogger("pathors_async")
    tally = Tally(total=1)
    caplog.set_level(logging.WARNING, logger="pathors_async")
    with counting_retries(tally):
        logger.info("retrying %s in %.2f s", "POST /x", 0.5)
        logger.info("something else")
        logger.warning("a warning")
    logger.info("retrying after the block: not counted")
    assert tally.retries == 1
    assert [record.getMessage() for record in caplog.records] == ["a warning"]
    assert logger.level == logging.WARNING  # as caplog set it
    assert logger.filters == []
