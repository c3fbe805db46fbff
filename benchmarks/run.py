"""`make bench`: pathors_async, raw aiohttp and openai-python side by side, in one run.

A lean server (``_server.py``: raw asyncio HTTP/1.1, keep-alive, every reply encoded once)
runs in its own process; each cell runs in a fresh client process (``_cell.py``), one
run per cell and client. With ``taskset`` and two CPUs, the server is pinned to one CPU
and the clients to another. The clients:

- ``pure``: pathors_async with ``PATHORS_ASYNC_PURE=1`` (the standard library's json);
- ``speedups``: pathors_async as installed (orjson on the hot paths when importable);
- ``raw``: hand-written aiohttp, ``json.loads`` and a minimal SSE line split;
- ``openai``: openai-python's ``AsyncOpenAI`` at the same server.

Every cell checks what it received (text, chunk count, the tool loop's answer); a wrong
answer or a failed cell makes the run exit 1. Prints a markdown table with ratios to raw
aiohttp and to openai-python and writes every figure to a JSON file::

    python benchmarks/run.py [--json PATH] [--duration S] [--quick] [--cells a,b]
                             [--clients pure,raw] [--no-pin]

openai-python and httpx-sse come from the ``bench`` extra; without them their columns
say "not installed".
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
from typing import Any

from _cell import CELLS
from _report import CLIENT_NAMES, table
from _util import version

HERE = pathlib.Path(__file__).parent
SERVER = "raw asyncio HTTP/1.1 keep-alive server (benchmarks/_server.py), replies pre-encoded"
CELL_TIMEOUT = 300


def clients_for(cell: str) -> list[str]:
    if cell == "dispatch":
        return ["pure", "speedups"]
    if cell == "sse":
        return [*CLIENT_NAMES, "httpx-sse"]
    return list(CLIENT_NAMES)


def missing(client: str) -> str | None:
    """Why a client cannot run here, or None."""
    package = {"openai": "openai", "httpx-sse": "httpx-sse"}.get(client)
    if package and version(package) is None:
        return f"{package} not installed (pip install -e '.[bench]')"
    return None


def pinning(*, enabled: bool) -> tuple[list[str], list[str], str]:
    """The command prefixes for the server and the clients, and what they do."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not enabled:
        return [], [], "not pinned (--no-pin)"
    if shutil.which("taskset") is None or len(cpus) < 2:
        return [], [], "not pinned (needs taskset and two CPUs)"
    server, client = cpus[0], cpus[1]
    return (
        ["taskset", "-c", str(server)],
        ["taskset", "-c", str(client)],
        f"server on CPU {server}, clients on CPU {client} (taskset)",
    )


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def python_args() -> list[str]:
    """This interpreter, with its -W options passed on (the tests run with -W error)."""
    return [sys.executable, *(f"-W{option}" for option in sys.warnoptions)]


def start_server(prefix: list[str], *, wrong: bool) -> tuple[subprocess.Popen[str], str]:
    command = [*prefix, *python_args(), str(HERE / "_server.py"), "--port", "0"]
    server = subprocess.Popen(  # noqa: S603 - our own script
        [*command, *(["--wrong"] if wrong else [])], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None  # noqa: S101 - PIPE
    line = server.stdout.readline()
    if not line.startswith("listening "):
        server.kill()
        raise SystemExit(f"the bench server did not start: {line!r}")
    return server, line.split()[1]


def run_cell(
    prefix: list[str], cell: str, client: str, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One cell for one client in a fresh process; its result, or {"error": ...}."""
    env = {key: value for key, value in os.environ.items() if key != "PATHORS_ASYNC_PURE"}
    if client == "pure":
        env["PATHORS_ASYNC_PURE"] = "1"
    command = [*prefix, *python_args(), str(HERE / "_cell.py"), cell, client, "--url", url]
    command += ["--duration", str(args.duration), *(["--quick"] if args.quick else [])]
    start = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - our own script
            command, capture_output=True, text=True, env=env, timeout=CELL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"took longer than {CELL_TIMEOUT} s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {done.returncode}", "stderr": done.stderr}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def describe(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"FAILED: {result['error']}"
    if "rate" in result and "server_share" in result:
        return f"{result['rate']:12,.0f}/s  server CPU {result['server_share']:4.0%}"
    if "rate" in result:
        return f"{result['rate']:12,.0f}/s"
    return ", ".join(
        f"{key} {value:.2f}" for key, value in result.items() if key.endswith(("us", "kib"))
    )


def measure(args: argparse.Namespace, cells: list[str]) -> tuple[dict[str, Any], str]:
    """Run every cell; the results by cell and client, and the pinning's description."""
    server_prefix, client_prefix, pinned = pinning(enabled=not args.no_pin)
    server, url = start_server(server_prefix, wrong=args.wrong)
    results: dict[str, dict[str, Any]] = {}
    try:
        for cell in cells:
            results[cell] = {}
            for client in clients_for(cell):
                if client not in args.clients:
                    continue
                why = missing(client)
                result = (
                    {"skipped": why} if why else run_cell(client_prefix, cell, client, url, args)
                )
                results[cell][client] = result
                print(f"  {cell:16} {client:9} {why or describe(result)}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.stdout is not None  # noqa: S101 - PIPE
        server.stdout.close()
    return results, pinned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=pathlib.Path, default=HERE / "results.json")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per cell")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks it runs")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated")
    parser.add_argument(
        "--clients", default=",".join([*CLIENT_NAMES, "httpx-sse"]), help="comma-separated"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--wrong", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 0.05)
    cells = [cell for cell in args.cells.split(",") if cell]
    args.clients = [client for client in args.clients.split(",") if client]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        parser.error(f"unknown cells {unknown}; choose from {', '.join(CELLS)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    machine = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min_before": load,
    }
    versions = {
        name: version(name)
        for name in ("pathors-async", "aiohttp", "openai", "httpx", "httpx-sse", "orjson")
    }
    print(f"server: {SERVER}", flush=True)
    start = time.perf_counter()
    results, pinned = measure(args, cells)
    markdown, failures = table(results)
    report = {
        "machine": machine,
        "versions": versions,
        "server": SERVER,
        "pinning": pinned,
        "duration_per_cell": args.duration,
        "quick": args.quick,
        "seconds": time.perf_counter() - start,
        "results": results,
        "table": markdown,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{machine['cpus']} CPUs ({machine['cpu']}), Python {machine['python']}; {pinned}")
    print(", ".join(f"{name} {v or '-'}" for name, v in versions.items()))
    if versions["orjson"] is None:
        print("(orjson is not installed: the speedups column runs the pure code)")
    if load is not None and load > 0.5:
        print(f"(load average {load:.1f} before the run: other work was running; figures vary)")
    print(f"\n{markdown}\nJSON: {args.json}")
    if failures:
        print("\nFAILED:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
