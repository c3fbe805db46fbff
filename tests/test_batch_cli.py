"""``pathors-async batch`` through its entry point: offline runs, progress lines, SIGINT/SIGTERM."""

import asyncio
import json
import pathlib
import re
import signal
import sys

import pytest

from pathors_async.batch import BatchProgress
from pathors_async.batch._local import read_items
from pathors_async.cli import main
from pathors_async.cli._batch import load_factory
from pathors_async.cli._progress import PlainProgress, RichProgress, describe, progress_for

from .stores_support import REPO, worker_env

EXAMPLE = REPO / "examples" / "batch_input.jsonl"


def read_ids(path):
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


async def start(*args, env=None):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pathors_async",
        "batch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or worker_env(),
        cwd=REPO,
    )


def test_the_example_file_holds_200_valid_items():
    items, problems = read_items(EXAMPLE)
    assert (len(items), problems) == (200, [])
    assert {bool(item.turns) for item in items} == {True, False}  # both kinds


async def test_the_offline_example_runs_with_plain_progress_lines(tmp_path):
    out = tmp_path / "out.jsonl"
    process = await start(str(EXAMPLE), "-o", str(out), "--emulator", "--progress-every", "0")
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    progress = [line for line in lines if line.startswith("batch: ")]
    assert progress[-1].startswith("batch: 200/200 done, 0 failed, 0 retries, ")
    assert len(progress) == 200  # --progress-every 0: a line per item
    assert re.fullmatch(
        r"batch: 1/200 done, 0 failed, 0 retries, [\d.]+/s, ETA \d+:\d\d", progress[0]
    )
    assert any(line.startswith("finished: 200 item(s) in ") for line in lines)
    assert any(line.startswith("  duration per item: p50 ") for line in lines)
    assert sorted(read_ids(out)) == [f"item-{n:03d}" for n in range(1, 201)]
    again = await start(str(EXAMPLE), "-o", str(out), "--emulator")
    stdout, _ = await again.communicate()
    assert again.returncode == 0
    assert "0 ok, 0 failed, 200 already done, 0 remain" in stdout.decode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_cleanly_and_a_rerun_resumes(tmp_path, signum):
    items = [
        {"id": n, "turns": [f"hold ticket {n}" if n % 100 == 7 else f"hello {n}", "more?"]}
        for n in range(500)
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out.jsonl"
    agent = ("--agent", "tests.batch_agents:make_holding_agent")
    args = (str(tmp_path / "in.jsonl"), "-o", str(out), "--emulator", *agent)
    process = await start(
        *args, "--progress-every", "0", env=worker_env() | {"BATCH_TEST_HOLD": "1"}
    )
    assert process.stdout is not None
    while True:  # the 5 "hold" items never finish: wait for the other 495
        line = (await process.stdout.readline()).decode()
        assert line, (await process.stderr.read()).decode()
        if line.startswith("batch: 495/500 done"):
            break
    process.send_signal(signum)
    stdout, stderr = await process.communicate()
    assert process.returncode == 130, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert "never retrieved" not in stderr.decode()
    assert "interrupted: 495 item(s)" in stdout.decode()
    assert "495 ok, 0 failed, 0 already done, 5 remain" in stdout.decode()
    assert "run the same command again to resume" in stdout.decode()
    assert len(read_ids(out)) == 495
    resumed = await start(*args)
    stdout, stderr = await resumed.communicate()
    assert resumed.returncode == 0, stderr.decode()
    assert "5 ok, 0 failed, 495 already done, 0 remain" in stdout.decode()
    ids = read_ids(out)
    assert sorted(ids) == list(range(500))  # nothing lost, nothing repeated
    held = [json.loads(line) for line in out.read_text().splitlines()][-5:]
    assert {line["id"] % 100 for line in held} == {7}
    assert all(line["ok"] for line in held)
    assert "held " in json.dumps(held[0]["messages"])


@pytest.mark.parametrize(
    ("paths", "text"),
    [
        (["nonexist.jsonl", "-o", "{tmp}/out.jsonl"], "No such file or directory: 'nonexist"),
        ([str(EXAMPLE), "-o", "/proc/x/out.jsonl"], "No such file or directory: '/proc/x'"),
    ],
)
def test_bad_paths_are_one_line_without_a_traceback(tmp_path, capsys, paths, text):
    args = [path.replace("{tmp}", str(tmp_path)) for path in paths]
    assert main(["batch", *args, "--emulator"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert text in err
    assert err.count("\n") == 1


async def test_strict_stops_before_any_request_and_bad_lines_are_reported(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "turns": ["hi"]}\n{"id": "b"}\n')
    out = tmp_path / "out.jsonl"
    process = await start(str(tmp_path / "in.jsonl"), "-o", str(out), "--emulator", "--strict")
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "error: 1 malformed input line(s): line 2: give exactly one of" in stderr.decode()
    assert not out.exists() or out.read_text() == ""
    process = await start(str(tmp_path / "in.jsonl"), "-o", str(out), "--emulator")
    stdout, _ = await process.communicate()
    assert process.returncode == 1  # a line was skipped
    assert "skipped malformed line 2: give exactly one of" in stdout.decode()
    assert read_ids(out) == ["a"]


def test_an_async_factory_and_the_in_process_entry_point(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "turns": ["hi"]}\n')
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "batch",
            str(tmp_path / "in.jsonl"),
            "-o",
            str(out),
            "--emulator",
            "--agent",
            "tests.batch_agents:make_agent_async",
            "--concurrency",
            "3",
        ]
    )
    assert code == 0
    assert "1 ok, 0 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "--agent must look like pkg.module:factory"),
        ("tests.no_such_module:f", "cannot import it"),
        ("tests.batch_agents:missing", "cannot import it"),
        ("tests.batch_agents:NOT_CALLABLE", "int is not callable"),
        ("tests.batch_agents:make_nothing", "the factory returned AsyncPathors, not Agent"),
    ],
)
def test_a_bad_agent_factory_says_what_is_wrong(tmp_path, spec, message):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "turns": ["hi"]}\n')
    with pytest.raises(SystemExit, match=re.escape(message)):
        main(
            [
                "batch",
                str(tmp_path / "in.jsonl"),
                "-o",
                str(tmp_path / "o"),
                "--emulator",
                "--agent",
                spec,
            ]
        )


def test_without_a_key_or_the_emulator_the_error_says_what_to_do(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "turns": ["hi"]}\n')
    with pytest.raises(SystemExit, match=r"no API key.*or use --emulator to run offline"):
        main(["batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o")])


def test_usage_errors(capsys):
    with pytest.raises(SystemExit):
        main(["batch", "in.jsonl", "-o", "out", "--concurrency", "0"])
    assert "--concurrency must be 1 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["batch", "submit", "in.jsonl"])
    assert "--job" in capsys.readouterr().err


def test_load_factory_finds_modules_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "my_agents.py").write_text("def make(client):\n    return client\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert load_factory("my_agents:make")(1) == 1
    assert str(pathlib.Path.cwd()) in sys.path


def test_progress_displays(capsys):
    snapshot = BatchProgress(total=10, done=4, failed=1, retries=2, elapsed=2.0)
    assert describe(snapshot, "batch") == "batch: 4/10 done, 1 failed, 2 retries, 2.0/s, ETA 0:03"
    worker = BatchProgress(total=0, done=4, failed=0, retries=0, elapsed=0.0)
    assert describe(worker, "worker w1") == "worker w1: 4 done, 0 failed, 0 retries, 0.0/s"
    assert isinstance(progress_for("batch", None, every=1.0), PlainProgress)  # not a terminal
    with RichProgress("batch", None) as bar:
        bar(snapshot)
    assert "4/10" in capsys.readouterr().out
