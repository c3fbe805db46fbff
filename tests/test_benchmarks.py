"""The benchmarks still run (tiny sizes; the figures themselves are never asserted)."""

import importlib.util
import json
import pathlib
import subprocess
import sys

from .test_cli import clean_env

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def bench(script, *args):
    return subprocess.run(
        [sys.executable, "-W", "error", str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
    )


def run(script, *args):
    result = bench(script, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def load_report():
    if "bench_report" not in sys.modules:  # dataclasses look their module up there
        spec = importlib.util.spec_from_file_location("bench_report", BENCHMARKS / "_report.py")
        sys.modules["bench_report"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["bench_report"])
    return sys.modules["bench_report"]


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


# One cell of each kind (the other cells differ only in concurrency), every client;
# openai-python and httpx-sse are "not installed" unless the bench extra is.
EACH_KIND = "complete-16,stream-64,tools-64,tools-stream-64,held-1000,sse,dispatch"


def test_make_bench_quick_prints_the_table_and_writes_json(tmp_path):
    out = run("run.py", "--quick", "--cells", EACH_KIND, "--json", str(tmp_path / "r.json"))
    assert "server: raw asyncio HTTP/1.1 keep-alive server" in out
    assert "| cell | pathors_async pure | pathors_async speedups | raw aiohttp |" in out
    for label in (
        "| non-stream req/s, c=16 |",
        "| 200-chunk streams, chunks/s, c=64 |",
        "| time to first chunk, c=64 |",
        "| 2-round tool loop, conversations/s, c=64 |",
        "| 2-round tool loop streamed, conversations/s, c=64 |",
        "| client CPU per chunk, c=64 |",
        "| RSS per open stream, 1,000 open |",
        "| SSE decode, events/s |",
        "| tool dispatch, async tool, per call |",
        "| tool dispatch, sync tool, per call |",
    ):
        assert label in out
    assert "FAILED" not in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["table"] in out
    assert report["quick"] is True
    results = report["results"]
    assert sorted(results) == sorted(EACH_KIND.split(","))
    for cell in ("complete-16", "stream-64", "tools-64", "tools-stream-64"):
        for client in ("pure", "speedups", "raw"):
            assert results[cell][client]["rate"] > 0
            assert results[cell][client]["server_share"] >= 0
    assert results["held-1000"]["raw"]["streams"] == 20  # --quick holds 20 streams
    assert results["stream-64"]["pure"]["ttfc_ms"] > 0
    assert results["stream-64"]["pure"]["pure"] is True  # PATHORS_ASYNC_PURE=1 was set
    assert results["stream-64"]["speedups"]["pure"] is False
    assert sorted(results["dispatch"]) == ["pure", "speedups"]
    assert set(results["dispatch"]["pure"]) >= {"async_us", "sync_us"}


def test_a_fast_wrong_answer_fails_the_run(tmp_path):
    cells = "complete-1,stream-1,tools-stream-64,held-1000"
    result = bench(
        "run.py", "--quick", "--wrong", "--cells", cells, "--clients", "pure,raw",
        "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "| non-stream req/s, c=1 | FAILED | - | FAILED |" in result.stdout
    for cell in cells.split(","):
        for client in ("pure", "raw"):
            assert f"{cell} {client}: wrong answer in {cell} for {client}: " in result.stderr
    assert "the answer differs at character 32" in result.stderr
    assert "the streamed text differs at character 0" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert "error" in report["results"]["tools-stream-64"]["pure"]


def test_the_ratios_say_how_many_times_better_in_every_row():
    report = load_report()
    results = {
        "complete-1": {
            "pure": {"rate": 900.0, "cpu_us": 200.0, "server_share": 0.25},
            "speedups": {"rate": 1200.0, "cpu_us": 100.0, "server_share": 0.5},
            "raw": {"rate": 1000.0, "cpu_us": 100.0, "server_share": 0.3},
            "openai": {"skipped": "openai not installed"},
        }
    }
    markdown, failures = report.table(results)
    assert failures == []
    lines = markdown.splitlines()
    assert (
        "| non-stream req/s, c=1 | 900 | 1,200 | 1,000 | not installed | 0.90 / 1.20 | - / - "
        "| 25% / 50% / 30% / - |"
    ) in lines
    assert (
        "| client CPU per request, c=1 | 200 µs | 100 µs | 100 µs | not installed "
        "| 0.50 / 1.00 | - / - |  |"
    ) in lines


def test_figures_read_at_a_glance():
    number = load_report().number
    assert [number(v, "/s") for v in (2973.4, 134_200.0, 3_210_000.0)] == ["2,973", "134k", "3.21M"]
    assert [number(v, "µs") for v in (10.71, 170.2)] == ["10.7 µs", "170 µs"]
    assert number(0.342, "ms") == "0.34 ms"
    assert number(20.34, "KiB") == "20.3 KiB"


def test_bench_batch_runs():
    out = run("bench_batch.py", "--items", "50", "--concurrency", "10", "--repeat", "1")
    assert "run_batch: 50 two-turn conversations at concurrency 10" in out
    assert "conversations/s" in out
    assert "target: >= 1,000 conversations/s:" in out
