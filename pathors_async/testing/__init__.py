"""Testing helpers: the local emulator, retry test mode, and pytest fixtures.

``FakePathors`` is a real HTTP server on 127.0.0.1 that behaves like the
Pathors API, for your tests and for offline demos::

    async with FakePathors() as fake:
        client = fake.client()
        fake.reply("Hello!")
        completion = await client.chat.completions.create(messages=[...])
        assert fake.requests[-1].body["messages"] == [...]

With pytest-asyncio installed, the ``pathors_fake`` and ``pathors_client``
fixtures (registered automatically) give you both, with retries in test mode.
"""

from pathors_async._retry import RetryTesting, set_testing

from ._controls import Responder
from ._fake import FakePathors
from ._log import RequestHook, RequestLog
from ._requests import RecordedRequest
from ._responder import ChatRequest, Reply, ScriptedToolCall

__all__ = [
    "ChatRequest",
    "FakePathors",
    "RecordedRequest",
    "Reply",
    "RequestHook",
    "RequestLog",
    "Responder",
    "RetryTesting",
    "ScriptedToolCall",
    "set_testing",
]
