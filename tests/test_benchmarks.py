"""The benchmarks still run (tiny sizes; the figures themselves are never asserted)."""

import pathlib
import subprocess
import sys

from .test_cli import clean_env

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def run(script, *args):
    result = subprocess.run(
        [sys.executable, "-W", "error", str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bench_sse_runs():
    out = run("bench_sse.py", "--events", "2000", "--repeat", "1")
    assert "2,000 events" in out
    assert "pathors_async SSEDecoder" in out
    assert "json.loads alone:" in out
    assert "pathors_async ChatCompletionStream" in out


def test_bench_tools_runs():
    out = run("bench_tools.py", "--calls", "300", "--repeat", "1")
    assert "dispatch, async tool" in out
    assert "dispatch, sync tool (worker thread)" in out
    assert "target: dispatch, async tool <= 30 µs" in out


def test_bench_client_runs():
    sizes = ("--requests", "40", "--streams", "4", "--concurrency", "4", "--heap-turns", "20")
    out = run("bench_client.py", *sizes, "--repeat", "1")
    assert "pathors_async    40 completions" in out
    assert "raw aiohttp      4 streams x" in out
    assert "heap per in-flight turn (20 at once)" in out


def test_bench_batch_runs():
    out = run("bench_batch.py", "--items", "50", "--concurrency", "10", "--repeat", "1")
    assert "run_batch: 50 two-turn conversations at concurrency 10" in out
    assert "conversations/s" in out
    assert "target: >= 1,000 conversations/s:" in out
