"""pytest fixtures for code that uses pathors_async (registered via ``pytest11``).

``pathors_fake`` is a started `FakePathors`, with retries in test mode (no
waits); ``pathors_client`` is an `AsyncPathors` pointed at it. Both need
pytest-asyncio; without it, using them fails with a message saying so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pathors_async._client import AsyncPathors
from pathors_async._retry import set_testing

from ._fake import FakePathors

__all__ = ["pathors_client", "pathors_fake"]


async def _fake() -> AsyncIterator[FakePathors]:
    with set_testing(enabled=True):
        async with FakePathors() as fake:
            yield fake


async def _client(pathors_fake: FakePathors) -> AsyncIterator[AsyncPathors]:
    async with pathors_fake.client() as client:
        yield client


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    pathors_fake = pytest_asyncio.fixture(_fake, name="pathors_fake")
    pathors_client = pytest_asyncio.fixture(_client, name="pathors_client")
else:  # pragma: no cover - exercised only where pytest-asyncio is missing

    @pytest.fixture(name="pathors_fake")
    def pathors_fake() -> Any:  # noqa: ANN401
        """Explain that the fixture needs pytest-asyncio."""
        pytest.fail("the pathors_fake fixture needs pytest-asyncio: pip install pytest-asyncio")

    @pytest.fixture(name="pathors_client")
    def pathors_client() -> Any:  # noqa: ANN401
        """Explain that the fixture needs pytest-asyncio."""
        pytest.fail("the pathors_client fixture needs pytest-asyncio: pip install pytest-asyncio")
