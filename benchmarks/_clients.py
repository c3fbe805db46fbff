"""The four contenders of `make bench`, each doing the same four jobs against the lean server.

- ``complete()``: one non-streamed turn; the answer's text.
- ``stream(on_first)``: one streamed turn of 200 chunks; (chunks, text); ``on_first()`` is
  called when the first chunk reaches the caller.
- ``tool_loop(streamed)``: ask, run the tool call the server answers with, send the result,
  get the final answer; its text.
- ``aclose()``.

``pathors_async`` (pure or with speedups: the same code, the environment differs) uses its
public API: the client, ``stream()`` with ``get_final_completion()``, and an `Agent` with a
`ToolRegistry`. ``raw aiohttp`` is what a careful user writes by hand: ``json.loads``, a
minimal SSE line split, no models, no validation, no retries. ``openai-python`` is
``AsyncOpenAI`` pointed at the same server, with a hand-written tool loop. Every pool is
sized to the cell's concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
from _server import HOLD, QUESTION, TOOL_NAME, TOOL_RESULT

KEY = "bench-key"
SHORT = [{"role": "user", "content": "Hi"}]
LONG = [{"role": "user", "content": "Tell me a long story."}]
HELD = [{"role": "user", "content": f"Tell me a long story. {HOLD}"}]
TOOL_DEFINITION = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Get the current weather.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name."}},
            "required": ["city"],
        },
    },
}
OnFirst = Callable[[], None]


async def get_weather(city: str) -> str:
    """The tool every contender runs (the server checks its result came back)."""
    return TOOL_RESULT if city == "Taipei" else f"no weather for {city!r}"


class Contender:
    """The interface; see the module docstring."""

    async def complete(self) -> str:
        raise NotImplementedError

    async def stream(self, on_first: OnFirst, *, held: bool = False) -> tuple[int, str]:
        raise NotImplementedError

    async def tool_loop(self, *, streamed: bool) -> str:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class Ours(Contender):
    """pathors_async through its public API."""

    def __init__(self, url: str, concurrency: int) -> None:
        from pathors_async import Agent, AsyncPathors, ToolRegistry  # noqa: PLC0415

        self.client = AsyncPathors(
            api_key=KEY,
            chat_completions_url=f"{url}/v1/projects/bench/chat/completions",
            max_connections=concurrency,
        )
        self.tools = ToolRegistry()

        @self.tools.tool
        async def get_weather(city: str) -> str:
            """Get the current weather.

            Args:
                city: City name.
            """
            return TOOL_RESULT if city == "Taipei" else f"no weather for {city!r}"

        self.agent = Agent(self.client, tools=self.tools)

    async def complete(self) -> str:
        completion = await self.client.chat.completions.create(messages=SHORT)
        return completion.choices[0].message.content or ""

    async def stream(self, on_first: OnFirst, *, held: bool = False) -> tuple[int, str]:
        chunks = 0
        async with self.client.chat.completions.stream(messages=HELD if held else LONG) as stream:
            async for _ in stream:
                chunks += 1
                if chunks == 1:
                    on_first()
            completion = await stream.get_final_completion()
        return chunks, completion.choices[0].message.content or ""

    async def tool_loop(self, *, streamed: bool) -> str:
        if not streamed:
            return (await self.agent.run(QUESTION)).output
        async with self.agent.run_stream(QUESTION) as run:
            async for _ in run:
                pass
        return run.result.output

    async def aclose(self) -> None:
        await self.client.aclose()
        self.tools.close()


class RawAiohttp(Contender):
    """aiohttp alone, by hand."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = f"{url}/v1/projects/bench/chat/completions"
        self.headers = {"Authorization": f"Bearer {KEY}"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def _post(self, body: dict[str, Any]) -> Any:  # noqa: ANN401 - JSON
        async with self.session.post(self.url, json=body, headers=self.headers) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    async def _events(self, body: dict[str, Any], on_first: OnFirst | None = None) -> list[Any]:
        """The chunks of a streamed answer: a line split, ``data: `` lines, ``json.loads``."""
        chunks = []
        async with self.session.post(
            self.url, json={**body, "stream": True}, headers=self.headers
        ) as response:
            response.raise_for_status()
            async for line in response.content:
                if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                    chunks.append(json.loads(line[6:]))
                    if on_first is not None and len(chunks) == 1:
                        on_first()
        return chunks

    async def complete(self) -> str:
        data = await self._post({"messages": SHORT})
        return str(data["choices"][0]["message"]["content"])

    async def stream(self, on_first: OnFirst, *, held: bool = False) -> tuple[int, str]:
        chunks = await self._events({"messages": HELD if held else LONG}, on_first)
        text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
        return len(chunks), text

    async def tool_loop(self, *, streamed: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        while True:
            body = {"messages": messages, "tools": [TOOL_DEFINITION]}
            if streamed:
                message = join_deltas(
                    [chunk["choices"][0]["delta"] for chunk in await self._events(body)]
                )
            else:
                message = (await self._post(body))["choices"][0]["message"]
            calls = message.get("tool_calls")
            if not calls:
                return str(message.get("content") or "")
            messages += [message, *[await run_call(call) for call in calls]]

    async def aclose(self) -> None:
        await self.session.close()


class OpenAIPython(Contender):
    """openai-python's ``AsyncOpenAI`` at the same server, tool loop by hand."""

    def __init__(self, url: str, concurrency: int) -> None:
        import openai  # noqa: PLC0415 - optional

        try:  # openai-python 3 runs on httpx2; earlier versions on httpx
            import httpx2 as httpx  # noqa: PLC0415
        except ImportError:
            import httpx  # noqa: PLC0415

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = openai.AsyncOpenAI(
            api_key=KEY,
            base_url=f"{url}/v1",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        )

    async def complete(self) -> str:
        completion = await self.client.chat.completions.create(
            model="pathway",
            messages=SHORT,  # type: ignore[arg-type]
        )
        return completion.choices[0].message.content or ""

    async def stream(self, on_first: OnFirst, *, held: bool = False) -> tuple[int, str]:
        chunks, text = 0, []
        stream = await self.client.chat.completions.create(
            model="pathway",
            messages=HELD if held else LONG,  # type: ignore[arg-type]
            stream=True,
        )
        async with stream:
            async for chunk in stream:
                chunks += 1
                if chunks == 1:
                    on_first()
                text.append(chunk.choices[0].delta.content or "")
        return chunks, "".join(text)

    async def tool_loop(self, *, streamed: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        while True:
            request: dict[str, Any] = {
                "model": "pathway",
                "messages": messages,
                "tools": [TOOL_DEFINITION],
            }
            if streamed:
                async with await self.client.chat.completions.create(
                    **request, stream=True
                ) as stream:
                    deltas = [
                        chunk.choices[0].delta.model_dump(exclude_none=True)
                        async for chunk in stream
                    ]
                message = join_deltas(deltas)
            else:
                completion = await self.client.chat.completions.create(**request)
                message = completion.choices[0].message.model_dump(exclude_none=True)
            calls = message.get("tool_calls")
            if not calls:
                return str(message.get("content") or "")
            messages += [message, *[await run_call(call) for call in calls]]

    async def aclose(self) -> None:
        await self.client.close()


def join_deltas(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant message from OpenAI-style deltas: text joined, tool calls by ``index``."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        text.append(delta.get("content") or "")
        for part in delta.get("tool_calls") or ():
            call = calls.setdefault(
                part["index"],
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
            )
            call["id"] = part.get("id") or call["id"]
            function = part.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return message


async def run_call(call: dict[str, Any]) -> dict[str, Any]:
    """Run one tool call by hand; the ``tool`` message answering it."""
    function = TOOLS[call["function"]["name"]]
    result = await function(**json.loads(call["function"]["arguments"]))
    return {"role": "tool", "tool_call_id": call["id"], "content": result}


TOOLS = {TOOL_NAME: get_weather}
CONTENDERS: dict[str, type[Contender]] = {
    "pure": Ours,
    "speedups": Ours,
    "raw": RawAiohttp,
    "openai": OpenAIPython,
}
