"""benchmarks/bench_stores.py still runs (tiny sizes; the figures are never asserted)."""

import importlib.util
import shutil

from .test_benchmarks import BENCHMARKS, run


def test_bench_stores_runs():
    sizes = ("--ops", "20", "--hot-turns", "5", "--keys", "10", "--turns-per-key", "1")
    out = run("bench_stores.py", *sizes, "--concurrency", "5", "--repeat", "1")
    assert "pinning: " in out  # pinned with taskset, or why not
    assert "1. the store alone, per turn" in out
    assert "client CPU µs" in out
    assert "share of one CPU: client " in out
    assert "   SQLiteStore " in out
    assert "   no store " in out
    assert " turns/s, " in out  # more, fewer or as many: whichever it measured
    if shutil.which("redis-server"):
        assert "(2.0 round trips per turn)" in out


def load_bench_stores():
    spec = importlib.util.spec_from_file_location("bench_stores", BENCHMARKS / "bench_stores.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cost_says_more_or_fewer_turns_the_right_way_round():
    versus = load_bench_stores().versus
    assert versus(69.0, 100.0, 150.0, 100.0) == "(31% fewer turns/s, +50 µs CPU)"
    assert versus(131.0, 100.0, 80.0, 100.0) == "(31% more turns/s, -20 µs CPU)"
    assert versus(100.2, 100.0, 100.0, 100.0) == "(as many turns/s, +0 µs CPU)"
