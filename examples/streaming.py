"""Streaming: print the answer as it arrives, then use the assembled completion.

Runs against the real service when PATHORS_API_KEY and PATHORS_PROJECT_ID are
set, and against the bundled emulator otherwise (no network, no credentials):

    python examples/streaming.py
"""

import asyncio
import os

from pathors_async import AsyncPathors, StreamError
from pathors_async.testing import FakePathors


async def chat(client: AsyncPathors) -> None:
    messages = [{"role": "user", "content": "Tell me a short story about a lighthouse."}]

    # 1. Chunk by chunk: each is a ChatCompletionChunk, as the service sent it.
    async with client.chat.completions.stream(messages=messages) as stream:
        print("session (known from the headers):", stream.session_id)
        print("assistant: ", end="")
        async for chunk in stream:
            for choice in chunk.choices:
                print(choice.delta.content or "", end="", flush=True)
        print()
        # The whole answer, assembled from the deltas: same shape as create() returns.
        final = await stream.get_final_completion()
        print("finish_reason:", final.choices[0].finish_reason)

    # 2. Only the text, in the same session: the usual way to show an answer live.
    messages += [
        {"role": "assistant", "content": final.choices[0].message.content or ""},
        {"role": "user", "content": "And a shorter one?"},
    ]
    pieces = 0
    async with client.chat.completions.stream(
        messages=messages, session_id=final.session_id
    ) as stream:
        print("assistant: ", end="")
        async for text in stream.text_stream:
            print(text, end="", flush=True)
            pieces += 1
        print(f"\n({pieces} text pieces)")


async def cut_stream(fake: FakePathors) -> None:
    """A stream cut before its end raises StreamError; what arrived is kept."""
    fake.reply("This answer will not arrive in full.")
    fake.cut_stream_next(after=3)
    async with fake.client() as client:
        try:
            async with client.chat.completions.stream(
                messages=[{"role": "user", "content": "Hi"}]
            ) as stream:
                async for _ in stream.text_stream:
                    pass
        except StreamError as error:
            partial = error.partial_completion
            text = partial.choices[0].message.content if partial and partial.choices else ""
            print("cut ->", type(error).__name__, "| partial text:", repr(text))


async def main() -> None:
    if os.environ.get("PATHORS_API_KEY"):
        async with AsyncPathors() as client:
            await chat(client)
    else:
        async with FakePathors() as fake, fake.client() as client:
            await chat(client)
            await cut_stream(fake)


if __name__ == "__main__":
    asyncio.run(main())
