"""benchmarks/bench_stores.py still runs (tiny sizes; the figures are never asserted)."""

import shutil

from .test_benchmarks import run


def test_bench_stores_runs():
    sizes = ("--ops", "20", "--hot-turns", "5", "--keys", "10", "--turns-per-key", "1")
    out = run("bench_stores.py", *sizes, "--concurrency", "5", "--repeat", "1")
    assert "1. the store alone, per turn" in out
    assert "   SQLiteStore " in out
    assert "   no store " in out
    assert "fewer turns/s" in out
    if shutil.which("redis-server"):
        assert "(2.0 round trips per turn)" in out
