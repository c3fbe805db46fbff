"""benchmarks/bench_stores.py and bench_stores_cpu.py still run (the figures are never asserted)."""

import importlib.util
import re
import shutil
import sys

import pytest

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


def load_bench_stores_cpu():
    if "bench_stores" not in sys.modules:  # what its `import bench_stores` finds
        sys.modules["bench_stores"] = load_bench_stores()
    path = BENCHMARKS / "bench_stores_cpu.py"
    spec = importlib.util.spec_from_file_location("bench_stores_cpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (Debian: apt-get install -y valgrind)",
)
def test_bench_stores_cpu_runs():
    sizes = ("--keys-low", "5", "--keys-high", "15", "--concurrency", "5")
    out = run("bench_stores_cpu.py", "--contenders", "none,MemoryStore", *sizes)
    assert re.search(r"^valgrind-\S+ \(cachegrind, --cache-sim=no\); Python 3\.", out, re.M)
    assert "client instructions per turn: (15 keys - 5 keys) x 2 turns, concurrency 5" in out
    assert "per turn  vs no store   cost where the client's CPU is the limit" in out
    assert re.search(r"^   no store +[\d,]+k$", out, re.M)
    row = r"^   MemoryStore +[\d,]+k +[+-][\d,]+k   (\d+% (fewer|more)|as many) turns/s$"
    assert re.search(row, out, re.M)  # fewer or more: whichever it counted
    assert "SQLiteStore" not in out
    assert re.search(r"^4 runs under valgrind in \d+ s$", out, re.M)


def test_bench_stores_cpu_says_it_is_skipped_without_valgrind(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind there
    assert load_bench_stores_cpu().main(["--contenders", "none"]) == 0
    out = capsys.readouterr().out
    assert out == "valgrind is not on the PATH: skipped (Debian: apt-get install -y valgrind)\n"


def test_the_instructions_are_read_from_valgrinds_summary():
    instructions = load_bench_stores_cpu().instructions
    stderr = (
        "==4242== Cachegrind, a high-precision tracing profiler\n"
        "--4242-- warning: L3 cache found, using its data for the LL simulation.\n"
        "a line of the client's own: I refs: 7\n"
        "==4242== \n"
        "==4242== I   refs:      1,234,567,890\n"
    )
    assert instructions(stderr) == 1_234_567_890
    assert instructions("I refs: 999\n") == 999  # no pid prefix, no commas
    assert instructions("==1== I refs: 5\n==2== I   refs:  6,000\n") == 6000  # the last
    with pytest.raises(RuntimeError, match="no 'I refs' line"):
        instructions("==4242== I1  misses: 12\n")


def test_the_instruction_figures_and_the_cost():
    module = load_bench_stores_cpu()
    assert module.per_turn(1_000_000, 15_000_000, 300, 1000) == 10_000
    assert module.cost(1_032_000, 901_000) == "13% fewer turns/s"
    assert module.cost(800_000, 901_000) == "13% more turns/s"
    assert module.cost(902_000, 901_000) == "as many turns/s"
