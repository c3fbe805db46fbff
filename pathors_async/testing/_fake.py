"""`FakePathors`: a real aiohttp server on loopback that behaves like the service.

It serves the v1 and legacy chat-completions paths and the session API with
the documented shapes, checks the Bearer key, keeps each session's history,
answers from a script queue (or a responder), records every request, and fails
on demand.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from pathors_async._client import AsyncPathors

from ._log import RequestHook, log_middleware
from ._requests import (
    PATHWAY_ID,
    BadRequest,
    Session,
    check_chat_body,
    check_tool_answers,
    error_body,
)
from ._responder import ChatRequest, Reply, ScriptedToolCall, default_reply
from ._streaming import StreamFault, reply_chunks, write_stream

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["FakePathors", "RecordedRequest", "Responder"]

#: A responder: called with each chat request that has no scripted reply.
Responder = Callable[[ChatRequest], "Reply | str | Awaitable[Reply | str]"]

MODEL: Final = "pathors-fake"
LEGACY_SUNSET: Final = "Thu, 31 Dec 2026 23:59:59 GMT"


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the emulator received.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        headers: The request headers (left out of the repr: they hold the key).
        body: The decoded JSON body, or None if there was none or it was not JSON.
        session_id: The ``X-Session-ID`` header, if sent.
        peer: The client's ``host:port``: requests with the same peer came over
            the same (reused) connection.
        received_at: When it arrived (``time.monotonic()``), e.g. to check a rate limit.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: Any
    session_id: str | None
    peer: str | None = None
    received_at: float = attrs.field(factory=time.monotonic)


@attrs.frozen(kw_only=True)
class _Fault:
    kind: str  # "status", "delay", "stall" or "drop"
    status: int = 500
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


def _peer(request: web.Request) -> str | None:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peername[0]}:{peername[1]}" if peername else None


class FakePathors:
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
        self.project_id = project_id
        self.host = host
        self.port = port
        self.responder = responder
        self.on_request = on_request
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, Session] = {}
        self._script: deque[Reply] = deque()
        self._faults: deque[_Fault] = deque()
        self._stream_faults: deque[StreamFault] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()
        self._closing = False
        self._received = asyncio.Condition()
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

    # ------------------------------------------------------------ scripting

    def reply(self, content: str, *, finish_reason: str = "stop") -> None:
        """Queue a text answer for the next chat request.

        Args:
            content: The assistant's text.
            finish_reason: The finish reason to report (e.g. ``"length"``).
        """
        self._script.append(Reply(content=content, finish_reason=finish_reason))

    def reply_tool_calls(
        self,
        calls: Sequence[Mapping[str, Any]],
        *,
        content: str | None = None,
        finish_reason: str = "tool_calls",
    ) -> None:
        """Queue an answer that calls tools.

        Args:
            calls: Each ``{"name": ..., "arguments": {...} or "<JSON text>",
                "id": optional}``. A string `arguments` is sent as is, so
                invalid JSON can be scripted on purpose.
            content: Text to send along with the calls.
            finish_reason: The finish reason to report (``"length"``: an answer
                cut off mid-call).
        """
        scripted = []
        for call in calls:
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            scripted.append(
                ScriptedToolCall(
                    name=call["name"], arguments=arguments, id=call.get("id") or self._call_id()
                )
            )
        self._script.append(
            Reply(content=content, tool_calls=tuple(scripted), finish_reason=finish_reason)
        )

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        message: str | None = None,
        body: str | bytes | Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests with an error status.

        Args:
            status: The HTTP status.
            times: How many requests to fail.
            message: The message in a ``{"error": {"message": ...}}`` body.
            body: A body to send instead: a dict (as JSON) or text/bytes as is
                (e.g. an HTML page).
            content_type: The body's content type.
            retry_after: A ``Retry-After`` header value (seconds or HTTP date).
            headers: More response headers.
        """
        if body is None:
            body = error_body(message or f"emulated failure ({status})")
        raw = json.dumps(body).encode() if isinstance(body, Mapping) else body
        extra = {"Content-Type": content_type, **(headers or {})}
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        fault = _Fault(
            kind="status",
            status=status,
            body=raw.encode() if isinstance(raw, str) else raw,
            headers=extra,
        )
        self._faults.extend([fault] * times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before answering each of the next `times` requests."""
        self._faults.extend([_Fault(kind="delay", delay=seconds)] * times)

    def stall_next(self, *, times: int = 1) -> None:
        """Never answer the next `times` requests (until `release` or close)."""
        self._faults.extend([_Fault(kind="stall")] * times)

    def drop_next(self, *, times: int = 1) -> None:
        """Close the connection without answering the next `times` requests."""
        self._faults.extend([_Fault(kind="drop")] * times)

    # ------------------------------------------------------------ stream faults

    def cut_stream_next(self, *, after: int = 1) -> None:
        """Drop the connection of the next stream after `after` chunks."""
        self._stream_faults.append(StreamFault(kind="cut", after=after))

    def end_stream_next(self, *, after: int = 1) -> None:
        """End the body of the next stream cleanly after `after` chunks, without ``[DONE]``."""
        self._stream_faults.append(StreamFault(kind="end", after=after))

    def stall_stream_next(self, *, after: int = 1) -> None:
        """Stop sending the next stream after `after` chunks, until `release` or close."""
        self._stream_faults.append(StreamFault(kind="stall", after=after))

    def corrupt_stream_next(self, *, after: int = 1, line: str = "data: {not json") -> None:
        """Send `line` (raw) in the next stream after `after` chunks, then the rest."""
        self._stream_faults.append(StreamFault(kind="corrupt", after=after, line=line))

    def error_in_stream_next(
        self,
        *,
        after: int = 1,
        message: str = "emulated stream failure",
        status: int | None = None,
        as_event: bool = True,
    ) -> None:
        """Send an error in the next stream after `after` chunks, then end it.

        Args:
            after: Chunks sent before the error.
            message: The error's message.
            status: An HTTP status to put in the payload (``error.status``).
            as_event: Send ``event: error`` (True) or a ``data: {"error": ...}`` line.
        """
        error: dict[str, Any] = {"message": message}
        if status is not None:
            error["status"] = status
        self._stream_faults.append(
            StreamFault(kind="error", after=after, error={"error": error}, as_event=as_event)
        )

    def linger_after_done_next(self) -> None:
        """Keep the body of the next stream open after ``[DONE]``, until `release` or close."""
        self._stream_faults.append(StreamFault(kind="linger"))

    def noisy_stream_next(self) -> None:
        """Wrap each chunk of the next stream in keep-alive comments, meta frames and CRLFs."""
        self._stream_faults.append(StreamFault(kind="noise"))

    def release(self) -> None:
        """Let the requests stalled so far go on (they are answered normally)."""
        self._released.set()
        self._released = asyncio.Event()

    async def _wait_for_release(self) -> None:
        if not self._closing:
            await self._released.wait()

    async def wait_for_requests(self, count: int) -> None:
        """Wait until at least `count` requests have been received in all.

        Args:
            count: The total number of requests to wait for.
        """
        async with self._received:
            await self._received.wait_for(lambda: len(self.requests) >= count)

    # ------------------------------------------------------------ handlers

    def _call_id(self) -> str:
        return f"call_{next(self._ids)}"

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

    async def _apply_fault(self, fault: _Fault, request: web.Request) -> web.StreamResponse | None:
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

    async def _reply_for(self, chat: ChatRequest) -> Reply:
        if self._script:
            return self._script.popleft()
        if self.responder is None:
            return default_reply(chat, self._call_id)
        answer = self.responder(chat)
        if inspect.isawaitable(answer):
            answer = await answer
        return Reply(content=answer) if isinstance(answer, str) else answer

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
