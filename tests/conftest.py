"""Shared fixtures: an emulator per test, and an environment that cannot leak traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from pathors_async import AsyncPathors
from pathors_async.testing import FakePathors, RetryTesting, set_testing

pytest_plugins = ["pytester"]

# Timing belongs in benchmarks/: on a loaded CI machine no example fails for being slow.
settings.register_profile("pathors", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pathors")

KEY = "sk_test_4f9c2e7d1a"  # looks like a real key, so a leak would be visible


@pytest.fixture(autouse=True)
def _no_real_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the PATHORS_* variables and point the default base URL at a closed local port."""
    monkeypatch.delenv("PATHORS_API_KEY", raising=False)
    monkeypatch.delenv("PATHORS_PROJECT_ID", raising=False)
    monkeypatch.setenv("PATHORS_BASE_URL", "http://127.0.0.1:9")


@pytest.fixture
def retries() -> Iterator[RetryTesting]:
    """Retry test mode: retries happen without waiting; the waits are recorded."""
    with set_testing(enabled=True) as state:
        yield state


@pytest.fixture
async def fake() -> AsyncIterator[FakePathors]:
    async with FakePathors(api_keys=(KEY,)) as server:
        yield server


@pytest.fixture
async def client(fake: FakePathors, retries: RetryTesting) -> AsyncIterator[AsyncPathors]:
    async with fake.client() as api:
        yield api
