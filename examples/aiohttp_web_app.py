"""A chat page served by aiohttp.web: the answer shows in the browser as it streams.

The app keeps one `AsyncPathors` for its whole life (a ``cleanup_ctx``), one
conversation per user in a store, and answers ``POST /chat`` with server-sent
events. The page (``GET /``) sends the message with ``fetch`` and reads the
events from the response body as they arrive, so the text grows word by word.

    python examples/aiohttp_web_app.py --serve          # then open http://127.0.0.1:8080
    python examples/aiohttp_web_app.py                  # offline check: two users, then exit

With PATHORS_API_KEY and PATHORS_PROJECT_ID set it talks to the real service;
otherwise it starts the bundled emulator (scripted, not a model). The page
also takes ``?q=...``: it sends that message as soon as it loads (the browser
test uses it). MemoryStore keeps conversations in this process; with several
workers use SQLiteStore or RedisStore (see examples/fastapi_chat.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from pathors_async import Agent, AsyncPathors, PathorsError, TextDelta
from pathors_async.stores import Conversations, MemoryStore
from pathors_async.testing import FakePathors

CONVERSATIONS = web.AppKey("conversations", Conversations)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pathors chat</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto}
#log p{margin:.4em 0}.user{color:#555}.error{color:#b00}</style></head>
<body data-state="idle">
<h1>Pathors chat</h1>
<div id="log"></div>
<form id="form"><input id="message" autocomplete="off" size="50" autofocus>
<button>Send</button></form>
<script>
const user = "browser-" + Math.random().toString(36).slice(2);
const log = document.getElementById("log");

function line(cls, text) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  log.append(p);
  return p;
}

async function send(message) {
  document.body.dataset.state = "streaming";
  line("user", "you: " + message);
  const answer = line("answer", "");
  const response = await fetch("/chat", {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({user: user, message: message}),
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", pieces = 0;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {   // one server-sent event
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = (event.match(/^event: (.*)$/m) || [, "message"])[1];
      const data = JSON.parse(event.match(/^data: (.*)$/m)[1]);
      if (name === "message") { answer.textContent += data.text; pieces += 1; }
      if (name === "done") answer.textContent = data.output;   // the whole answer
      if (name === "error") line("error", data.type + ": " + data.message);
    }
  }
  answer.dataset.pieces = pieces;
  document.body.dataset.state = "done";
}

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("message");
  if (input.value) send(input.value);
  input.value = "";
});
const q = new URLSearchParams(location.search).get("q");
if (q) send(q);
</script>
</body></html>
"""


def sse(data: Any, event: str | None = None) -> bytes:  # noqa: ANN401 - any JSON
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def page(request: web.Request) -> web.Response:
    """The chat page."""
    return web.Response(text=PAGE, content_type="text/html")


async def chat(request: web.Request) -> web.StreamResponse:
    """Answer ``{"user", "message"}`` as server-sent events: text pieces, then ``done``."""
    body = await request.json()
    user, message = body.get("user"), body.get("message")
    if not isinstance(user, str) or not isinstance(message, str) or not message:
        raise web.HTTPBadRequest(text='send {"user": "...", "message": "..."}')
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    try:
        async with request.app[CONVERSATIONS].stream(user, message) as run:
            async for event in run:
                if isinstance(event, TextDelta):
                    await response.write(sse({"text": event.text}))
        await response.write(sse({"output": run.result.output}, event="done"))
    except PathorsError as error:  # busy, the service failed…: tell the page
        await response.write(sse({"type": type(error).__name__, "message": str(error)}, "error"))
    await response.write_eof()
    return response


async def pathors(app: web.Application) -> AsyncIterator[None]:
    """One client for the app's whole life: opened at startup, closed at shutdown."""
    async with AsyncPathors() as client:  # PATHORS_API_KEY, PATHORS_PROJECT_ID from the env
        agent = Agent(client, instructions="You are a helpful assistant.")
        app[CONVERSATIONS] = agent.conversations(MemoryStore(), history="full")
        yield
        await app[CONVERSATIONS].aclose()


def make_app() -> web.Application:
    """The aiohttp application (``python -m aiohttp.web examples.aiohttp_web_app:make_app``
    does not pass arguments, hence none)."""
    app = web.Application()
    app.cleanup_ctx.append(pathors)
    app.router.add_get("/", page)
    app.router.add_post("/chat", chat)
    return app


# ---------------------------------------------------------------- running it


async def ask(http: aiohttp.ClientSession, base: str, user: str, text: str) -> str:
    """POST a message as the page does and join the streamed text."""
    async with http.post(f"{base}/chat", json={"user": user, "message": text}) as response:
        pieces = [json.loads(line[6:]) async for line in response.content if line[:6] == b"data: "]
    return "".join(piece.get("text", "") for piece in pieces)


async def serve(port: int, *, forever: bool) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(f"serving on {base}", flush=True)
    try:
        if forever:
            await asyncio.Event().wait()  # until Ctrl-C
        async with aiohttp.ClientSession() as http:
            async with http.get(base) as response:
                print("GET / ->", response.status, response.content_type)
            print("ada:", await ask(http, base, "ada", "hello"))
            print("bob:", await ask(http, base, "bob", "hi there"))
            print("ada:", await ask(http, base, "ada", "and again"))
        conversation = await runner.app[CONVERSATIONS].load("ada")
        messages = conversation.messages if conversation else []
        print("ada's conversation:", [message.role for message in messages])
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    parser.add_argument("--port", type=int, default=None, help="default: 8080 with --serve")
    args = parser.parse_args()
    port = args.port if args.port is not None else (8080 if args.serve else 0)
    if os.environ.get("PATHORS_API_KEY"):
        await serve(port, forever=args.serve)
        return
    async with FakePathors() as fake:
        os.environ.update(
            PATHORS_API_KEY=fake.api_key,
            PATHORS_PROJECT_ID=fake.project_id,
            PATHORS_BASE_URL=fake.url,
        )
        await serve(port, forever=args.serve)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --serve quietly
        asyncio.run(main())
