"""The chat page of examples/aiohttp_web_app.py, checked in a real headless Chromium.

The example serves the page against the emulator; Chromium loads it with
``?q=...`` (the page sends that message at once), runs its JavaScript until the
streamed answer is complete (``--virtual-time-budget`` waits for the fetch),
and dumps the DOM. Skipped when Chromium is not installed, unless
PATHORS_REQUIRE_BROWSER=1 (``make browser-test`` sets it): then it fails.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from .test_cli import clean_env

EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "aiohttp_web_app.py"
SKIP_REASON = (
    "Chromium is not installed: install Debian's chromium (apt-get install chromium), "
    "or run make browser-test"
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("PATHORS_REQUIRE_BROWSER") == "1":
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    return found


@pytest.fixture
def served_page():
    """The example serving its page (and the emulator) on a free port; yields its URL."""
    with subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLE), "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as process:
        try:
            first = process.stdout.readline()  # "serving on http://127.0.0.1:PORT"
            assert first.startswith("serving on http://127.0.0.1:"), process.stderr.read()
            yield first.split()[-1]
        finally:
            process.terminate()
            process.wait(timeout=30)
            stderr = process.stderr.read()
    assert stderr == ""


def test_chat_page_shows_the_streamed_answer(chromium, served_page, tmp_path):
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # needed as root (CI containers)
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=10000",  # virtual time waits for the streamed fetch
            "--dump-dom",
            f"{served_page}/?q=hello%20from%20Chromium",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert '<body data-state="done">' in dom
    assert '<p class="user">you: hello from Chromium</p>' in dom
    answer = re.search(r'<p class="answer" data-pieces="(\d+)">([^<]*)</p>', dom)
    assert answer is not None, dom
    assert answer[2] == "(FakePathors emulator, not a model) You said: hello from Chromium"
    assert int(answer[1]) > 1  # it arrived in pieces, appended as they came
    assert 'class="error"' not in dom
