"""`FakePathors`: a real aiohttp server on loopback that behaves like the service.

It serves the v1 and legacy chat-completions paths and the session API with
the documented shapes, checks the Bearer key, keeps each session's history,
answers from a script queue (or a responder), records every request, and fails
on demand. The queues, the recorded requests and the scripting methods
(`reply`, `fail_next`...) live in its base class, `_controls.EmulatorControls`;
this module is the HTTP side: the routes, the checks and the answers.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from pathors_async._client import AsyncPathors

from ._controls import EmulatorControls, Fault, Responder
from ._log import RequestHook, log_middleware
from ._requests import (
    PATHWAY_ID,
    BadRequest,
    RecordedRequest,
    Session,
    check_chat_body,
    check_tool_answers,
    error_body,
)
from ._responder import ChatRequest, Reply
from ._streaming import reply_chunks, write_stream

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["FakePathors"]

MODEL: Final = "pathors-fake"
LEGACY_SUNSET: Final = "Thu, 31 Dec 2026 23:59:59 GMT"


def _peer(request: web.Request) -> str | None:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peername[0]}:{peername[1]}" if peername else None


class FakePathors(EmulatorControls):
    """A local Pathors emulator: a real HTTP server on 127.0.0.1, an ephemeral port.

    Use it in tests and demos: ``async with FakePathors() as fake:`` then
    ``fake.client()`` gives an `AsyncPathors` pointed at it. Script answers with
    `reply` and `reply_tool_calls` (else a deterministic default responder
    answers), inspect `requests`, and inject faults with `fail_next`,
    `delay_next`, `stall_next` and `drop_next`.

    Args:
        api_keys: The keys it accepts; the first is the one `client` uses.
        project_id: The only project it knows (others get 404).
        host: The interface to listen on.
        port: The port; 0 picks a free one.
        responder: Called for chat requests that have no scripted reply; it
            gets a `ChatRequest` and returns a `Reply` or a string (or an
            awaitable of one). Default: the built-in rules.
        on_request: Called with a `RequestLog` (method, path, session, status,
            ms) after each request is answered; settable later as the
            attribute of the same name.

    Besides the Pathors paths it serves ``POST /v1/chat/completions`` (the
    default project, for OpenAI-style clients whose base URL ends in ``/v1``)
    and ``GET /v1/models`` (one model, ``pathors-fake``).
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("test-key",),
        project_id: str = "test-project",
        host: str = "127.0.0.1",
        port: int = 0,
        responder: Responder | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.api_keys = tuple(api_keys)
        if not self.api_keys:
            raise ValueError("FakePathors needs at least one API key to accept")
        super().__init__(responder=responder)
        self.project_id = project_id
        self.host = host
        self.port = port
        self.on_request = on_request
        self._runner: web.AppRunner | None = None
        self._clients: list[AsyncPathors] = []

    # ------------------------------------------------------------ life cycle

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._runner is None:
            raise RuntimeError("FakePathors is not started; use 'async with FakePathors() as fake'")
        return f"http://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The key `client` uses (the first of `api_keys`)."""
        return self.api_keys[0]

    async def start(self) -> None:
        """Start listening (``async with`` does this for you)."""
        app = web.Application(middlewares=[log_middleware(lambda: self.on_request)])
        prefix_v1 = "/v1/projects/{project_id}"
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post(f"{prefix_v1}/chat/completions", self._chat)
        app.router.add_post(
            "/api/project/{project_id}/integration/api/chat/completions", self._chat
        )
        app.router.add_post(f"{prefix_v1}/sessions", self._create_session)
        app.router.add_get(f"{prefix_v1}/sessions/{{session_id}}", self._get_session)
        app.router.add_delete(f"{prefix_v1}/sessions", self._end_session)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Close the clients made by `client`, release stalled requests, stop the server."""
        self._closing = True
        self._released.set()
        for client in self._clients:
            await client.aclose()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def client(self, **kwargs: Any) -> AsyncPathors:  # noqa: ANN401 - AsyncPathors' options
        """Return an `AsyncPathors` pointed at this emulator, closed with it.

        Args:
            **kwargs: Options for `AsyncPathors`; `api_key`, `project_id` and
                `base_url` default to the emulator's.

        Returns:
            The client.
        """
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("project_id", self.project_id)
        kwargs.setdefault("base_url", self.url)
        client = AsyncPathors(**kwargs)
        self._clients.append(client)
        return client

    # ------------------------------------------------------------ handlers

    async def _admit(self, request: web.Request) -> tuple[web.StreamResponse | None, Any]:
        """Record the request, check key and project, apply faults.

        Returns:
            An early response (error or fault), or None, and the decoded body.
        """
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=body,
                session_id=request.headers.get("X-Session-ID"),
                peer=_peer(request),
            )
        )
        async with self._received:
            self._received.notify_all()
        if self._faults:
            early = await self._apply_fault(self._faults.popleft(), request)
            if early is not None:
                return early, body
        authorization = request.headers.get("Authorization", "")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return web.json_response({"error": "Invalid authentication"}, status=401), body
        if request.match_info.get("project_id", self.project_id) != self.project_id:
            return web.json_response(error_body("Project not found"), status=404), body
        if raw and body is None:
            return web.json_response(error_body("Invalid request body: not JSON"), status=400), body
        return None, body

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "stall":
            await self._wait_for_release()
            return None
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        return web.Response(status=fault.status, body=fault.body, headers=fault.headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        early, body = await self._admit(request)
        if early is not None:
            return early
        session_id = (
            request.headers.get("X-Session-ID")
            or (body.get("session_id") if isinstance(body, dict) else None)
            or str(uuid.uuid4())
        )
        session = self.sessions.get(session_id) or Session()
        try:
            messages, tools = check_chat_body(body)
            history = session.merged(messages)
            check_tool_answers(history)
        except BadRequest as exc:
            return web.json_response(error_body(exc.message, field=exc.field), status=400)
        session.messages = history
        self.sessions[session_id] = session
        reply = await self._reply_for(
            ChatRequest(
                messages=tuple(history), tools=tuple(tools), session_id=session_id, body=body
            )
        )
        history.append(reply.message())
        headers = {"X-Session-ID": session_id}
        if request.path.startswith("/api/"):
            headers.update({"Deprecation": "true", "Sunset": LEGACY_SUNSET})
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if body.get("stream"):
            chunks = reply_chunks(
                reply,
                completion_id=completion_id,
                created=int(time.time()),
                model=MODEL,
                session_id=session_id,
            )
            fault = self._stream_faults.popleft() if self._stream_faults else None
            return await write_stream(request, headers, chunks, fault, self._wait_for_release)
        return web.json_response(
            self._completion(reply, session_id, completion_id), headers=headers
        )

    def _completion(self, reply: Reply, session_id: str, completion_id: str) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {"index": 0, "message": reply.message(), "finish_reason": reply.finish_reason}
            ],
            "usage": {"prompt_tokens": -1, "completion_tokens": -1, "total_tokens": -1},
            "session_id": session_id,
        }

    async def _models(self, request: web.Request) -> web.StreamResponse:
        early, _ = await self._admit(request)
        if early is not None:
            return early
        model = {"id": MODEL, "object": "model", "created": 0, "owned_by": "pathors-fake"}
        return web.json_response({"object": "list", "data": [model]})

    async def _create_session(self, request: web.Request) -> web.StreamResponse:
        early, body = await self._admit(request)
        if early is not None:
            return early
        session_id = body.get("session_id") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            return web.json_response(
                error_body("'session_id' is required", field="session_id"), status=400
            )
        if session_id in self.sessions:
            return web.json_response(error_body("Session already exists"), status=409)
        variables = body.get("variables") or {}
        self.sessions[session_id] = Session(variables=dict(variables))
        return web.json_response({"sessionId": session_id, "pathwayId": PATHWAY_ID})

    async def _get_session(self, request: web.Request) -> web.StreamResponse:
        early, _ = await self._admit(request)
        if early is not None:
            return early
        session_id = request.match_info["session_id"]
        session = self.sessions.get(session_id)
        if session is None:
            return web.json_response(error_body("Session not found"), status=404)
        messages = [
            {"role": message["role"], "content": message.get("content") or ""}
            for message in session.messages
        ]
        return web.json_response(
            {
                "sessionId": session_id,
                "state": {"variables": session.variables, "messages": messages},
            }
        )

    async def _end_session(self, request: web.Request) -> web.StreamResponse:
        early, body = await self._admit(request)
        if early is not None:
            return early
        session_id = body.get("session_id") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or session_id not in self.sessions:
            return web.json_response(error_body("Session not found"), status=404)
        del self.sessions[session_id]
        return web.json_response(
            {"success": True, "sessionId": session_id, "message": "Session ended"}
        )
