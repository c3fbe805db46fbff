"""OpenAI compatibility, both ways.

1. pathors_async against any OpenAI-compatible server (vLLM, Ollama, LiteLLM,
   OpenAI itself…): pass the full URL as ``chat_completions_url`` and the
   model in ``extra_body``. Streaming, tools and the agent loop work as with
   Pathors; the session API is Pathors-only.
2. openai-python against the Pathors emulator (or the service): its
   ``base_url`` is ``<server>/v1/projects/<project id>`` (``/v1`` alone is a 404).
   Skipped, with a note, when openai is not installed (``pip install openai``).

    python examples/openai_compatible.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=ollama OPENAI_MODEL=llama3.2 \\
        python examples/openai_compatible.py     # part 1 against your own server

Without OPENAI_BASE_URL, the bundled emulator stands in for the other server.
"""

import asyncio
import importlib.util
import os
from typing import Any

from pathors_async import Agent, AsyncPathors, ToolRegistry
from pathors_async.testing import FakePathors

tools = ToolRegistry()


@tools.tool
def square(number: int) -> int:
    """Square a number.

    Args:
        number: The number to square.
    """
    return number * number


async def sdk_against(url: str, api_key: str, model: str) -> None:
    """Part 1: our SDK, pointed at `url` (a full chat-completions URL)."""
    extra = {"model": model}  # fields the SDK does not model go in extra_body
    async with AsyncPathors(api_key=api_key, chat_completions_url=url) as client:
        completion = await client.chat.completions.create(
            messages=[{"role": "user", "content": "Say hello."}], extra_body=extra
        )
        print("sdk create:", completion.choices[0].message.content)

        async with client.chat.completions.stream(
            messages=[{"role": "user", "content": "Count to three."}], extra_body=extra
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
        print("sdk stream:", text)

        result = await Agent(client, tools=tools, extra_body=extra).run("Please square 7")
        print("sdk agent:", result.output, f"({result.turns} turns)")


async def openai_against(base_url: str, api_key: str) -> str | None:
    """Part 2: openai-python, pointed at a Pathors project; returns the session id used."""
    if importlib.util.find_spec("openai") is None:
        print("openai-python is not installed (pip install openai): part 2 skipped")
        return None
    from openai import AsyncOpenAI  # noqa: PLC0415 - optional

    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0) as openai:
        # "model" is required by openai-python; Pathors ignores it (the project decides).
        first = await openai.chat.completions.create(
            model="pathors", messages=[{"role": "user", "content": "Hello"}]
        )
        print("openai create:", first.choices[0].message.content)
        extra: Any = first.model_extra or {}  # Pathors' own fields, e.g. session_id
        session_id = str(extra.get("session_id", ""))

        # Continue the same session: Pathors reads it from the X-Session-ID header.
        stream = await openai.chat.completions.create(
            model="pathors",
            messages=[{"role": "user", "content": "Again"}],
            stream=True,
            extra_headers={"X-Session-ID": session_id},
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        print("openai stream:", "".join(pieces))
        return session_id


async def main() -> None:
    async with FakePathors() as fake:
        project = f"{fake.url}/v1/projects/{fake.project_id}"
        if os.environ.get("OPENAI_BASE_URL"):
            base = os.environ["OPENAI_BASE_URL"].rstrip("/")
            await sdk_against(
                f"{base}/chat/completions",
                os.environ.get("OPENAI_API_KEY", "none"),
                os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            )
        else:  # the emulator plays "any OpenAI-compatible server"
            await sdk_against(f"{project}/chat/completions", fake.api_key, "any-model")
        session_id = await openai_against(project, fake.api_key)
        if session_id is not None:
            print("session kept:", fake.requests[-1].session_id == session_id)
        print("openai-python base_url for the emulator: <emulator>/v1/projects/<project id>")


if __name__ == "__main__":
    asyncio.run(main())
