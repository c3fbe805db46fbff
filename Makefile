# Two commands for a fresh clone: `make demo` and `make test`.
# Each builds .venv with `python3 -m venv` when it is missing and installs the
# project into it (editable), so nothing else is needed on the machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean redis-server chromium browser-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cli,redis]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pathors-async demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict pathors_async tests/typed

# The store tests start a real redis-server on 127.0.0.1. As root, install it when it is
# missing (Debian/Ubuntu); otherwise those tests are skipped and say how to install it.
redis-server:
	@command -v redis-server >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)

# The chat page of examples/aiohttp_web_app.py is checked in a headless Chromium
# (tests/test_browser.py). `make test` runs that test when Chromium is installed and skips it
# otherwise; `make browser-test` installs Debian's chromium as root when it is missing (about
# a minute) and runs the test, failing rather than skipping without a browser.
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

browser-test: $(STAMP) chromium
	PATHORS_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/test_browser.py

# The dev install has orjson, so the suite runs with the speedups; the tests of every
# JSON path run again without them (PATHORS_ASYNC_PURE=1) so the two cannot drift.
PURE_TESTS := tests/test_json.py tests/test_body.py tests/test_client.py tests/test_stream.py tests/test_hostile.py \
	tests/test_decoding_end_to_end.py tests/test_redact.py tests/test_transport.py \
	tests/test_run.py tests/test_untrusted.py tests/test_agent.py

unit: $(STAMP) redis-server
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	PATHORS_ASYNC_PURE=1 $(BIN)/coverage run -m pytest -q $(PURE_TESTS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

test: lint typecheck unit

# `make bench` also needs the others it compares with (the bench extra: openai-python,
# httpx, httpx-sse) and the speedups extra (orjson). benchmarks/run.py takes options:
# make bench BENCH_ARGS='--duration 3 --json /tmp/results.json'
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS  ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench,speedups]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_batch.py --items 2000 --concurrency 200

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
