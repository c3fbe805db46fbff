"""The ``client.chat.completions`` and ``client.sessions`` namespaces.

Thin: they check arguments, build the request body and turn the answer into
models; the `Transport` does the sending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeGuard, TypeVar

import attrs

from ._body import encode_chat_body
from ._config import Endpoints, Timeout, resolve_timeout
from ._converter import (
    ResponseShapeError,
    completion_from_json,
    structure,
    to_messages,
    unstructure_messages,
)
from ._errors import APIError, clip_body
from ._ids import check_headers, check_session_id
from ._models import ChatCompletion, Message, SessionCreated, SessionEnded, SessionState
from ._stream import ByteSource, ChatCompletionStream
from ._transport import Request, Response, Transport

__all__ = [
    "Chat",
    "Completions",
    "HasDefinitions",
    "Sessions",
    "Settings",
    "chat_body",
    "chat_request_body",
    "tools_payload",
]

ModelT = TypeVar("ModelT")


class HasDefinitions(Protocol):
    """Anything with tool `definitions` (a `ToolRegistry`)."""

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """The ``{"type": "function", ...}`` definitions to send."""
        ...


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)  # a dict: no ABC check


def tools_payload(tools: object) -> list[Any] | None:
    """Check `tools` and return the list to send, or None for no tools.

    Args:
        tools: ``{"type": "function", "function": {"name": ...}}`` dicts, an
            object with `definitions` (a `ToolRegistry`), or None.

    Returns:
        The tool definitions, or None when there are none.

    Raises:
        TypeError: `tools` or an item has the wrong shape.
    """
    if tools is None:
        return None
    definitions: list[object]
    if type(tools) is list:  # the usual case: no attribute lookup, no ABC checks
        definitions = list(tools)
    elif hasattr(tools, "definitions"):
        definitions = list(tools.definitions)
    elif isinstance(tools, Sequence) and not isinstance(tools, (str, bytes)):
        definitions = list(tools)
    else:
        raise TypeError(
            "tools must be a list of tool definitions or a ToolRegistry, "
            f"not {type(tools).__name__}"
        )
    for position, tool in enumerate(definitions):
        function = tool.get("function") if _is_mapping(tool) else None
        if (
            not _is_mapping(tool)
            or tool.get("type") != "function"
            or not _is_mapping(function)
            or not isinstance(function.get("name"), str)
        ):
            raise TypeError(
                f"tools[{position}] must look like {{'type': 'function', 'function': "
                "{'name': ..., 'description': ..., 'parameters': {...}}}"
            )
    return definitions or None


def chat_body(
    messages: Sequence[Message | Mapping[str, Any]],
    tools: object,
    *,
    stream: bool,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Build the JSON body of a chat-completions request.

    Raises:
        TypeError, ValueError: Invalid messages or tools (nothing is sent).
    """
    return _body_dict(to_messages(messages), tools_payload(tools), stream, extra_body)


def _body_dict(
    messages: list[Message],
    definitions: list[Any] | None,
    stream: bool,  # noqa: FBT001 - private
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": unstructure_messages(messages), "stream": stream}
    if definitions is not None:
        body["tools"] = definitions
    if extra_body:
        body.update(extra_body)
    return body


def chat_request_body(
    messages: Sequence[Message | Mapping[str, Any]],
    tools: object,
    *,
    stream: bool,
    extra_body: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, bytes | None]:
    """The body of a chat-completions request: encoded now when `_body` can, else the dict.

    Returns:
        ``(None, bytes)``: the encoded body, the bytes ``dumps(chat_body(...))``
        gives; or ``(dict, None)``: `chat_body`'s dict, for the transport to encode.

    Raises:
        TypeError, ValueError: Invalid messages or tools (nothing is sent).
    """
    checked, definitions = to_messages(messages), tools_payload(tools)
    encoded = encode_chat_body(checked, definitions, stream=stream, extra_body=extra_body)
    if encoded is not None:
        return None, encoded
    return _body_dict(checked, definitions, stream, extra_body), None


@attrs.frozen(kw_only=True)
class Settings:
    """What the namespaces need from their client: the transport, the URLs, the timeout."""

    transport: Transport
    endpoints: Endpoints
    timeout: Timeout

    def build(
        self,
        method: str,
        url: str,
        *,
        json: object = None,
        body: bytes | None = None,
        session_id: str | None = None,
        timeout: float | Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> Request:
        """A `Request` with the client's timeout resolved and `extra_headers` checked."""
        return Request(
            method=method,
            url=url,
            json=json,
            body=body,
            session_id=session_id,
            timeout=resolve_timeout(self.timeout, timeout),
            extra_headers=check_headers(extra_headers, "extra_headers"),
            idempotent=idempotent,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: object = None,
        idempotent: bool = False,
    ) -> Response:
        """Send a request through the transport and return the whole response."""
        return await self.transport.send(self.build(method, url, json=json, idempotent=idempotent))


def _not_a_completion(response: Response, problem: str) -> APIError:
    """Build the error for a 200 that is not a completion; `problem` may quote the server."""
    url = response.request.url
    redactor = response.redactor
    text = redactor.text(response.body.decode("utf-8", "replace"))
    return APIError(
        f"the answer from POST {url} is not a chat completion: {redactor.text(problem)}",
        url=url,
        body=clip_body(text),
    )


def _completion(response: Response, session_id: str | None) -> ChatCompletion:
    """Turn a 200 answer into a completion, or the error it holds instead."""
    data = response.json()
    redactor = response.redactor
    url = response.request.url
    if isinstance(data, dict) and "choices" not in data and ("error" in data or "detail" in data):
        raise redactor.in_band_error(
            response.body,
            said=f"POST {url} answered 200 with an error instead of a chat completion",
            url=url,
            headers=response.headers,
            session_id=response.session_id or session_id,
            stream=False,
        )
    if not isinstance(data, dict) or "choices" not in data:
        raise _not_a_completion(response, "it has no 'choices'")
    try:
        completion = completion_from_json(data, session_id=response.session_id)
    except ResponseShapeError as exc:
        # Not chained: the shape error quotes the server's values unredacted.
        raise _not_a_completion(response, str(exc)) from None
    if completion.session_id is None:
        return attrs.evolve(completion, session_id=session_id) if session_id else completion
    if completion.session_id != response.session_id:  # from the body: not checked yet
        redactor.received_session_id(completion.session_id, url=url)
    return completion


class Completions:
    """``client.chat.completions``: one chat turn, whole or streamed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def create(
        self,
        *,
        messages: Sequence[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | HasDefinitions | None = None,
        session_id: str | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ChatCompletion:
        """Run one chat turn and return the whole completion.

        Args:
            messages: The messages (dicts or `Message`), oldest first.
            tools: Tool definitions, or a `ToolRegistry`, the model may call.
            session_id: Continue this session (sent as ``X-Session-ID``); None
                lets the service start one. The answer's `session_id` says which.
            timeout: Seconds for the whole call, or a `Timeout`; default the client's.
            extra_body: Fields merged into the request body as is.
            extra_headers: Headers merged into the request as is.

        Returns:
            The completion, with `session_id` set from the response (the
            ``X-Session-ID`` header, else the body), else the one sent.

        Raises:
            TypeError, ValueError: Invalid messages, tools or session id (nothing is sent).
            APIStatusError: The service answered with an error status, or a 200
                holding an error that names one.
            APIConnectionError: The connection failed or timed out.
            APIError: The answer was not a chat completion (``{}``,
                ``{"error": ...}``…), was past `ResponseLimits`, was a redirect,
                or held a session id that cannot be sent back.
        """
        request = self._request(
            messages=messages,
            tools=tools,
            stream=False,
            session_id=session_id,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )  # sent straight to the transport: one frame less per resume
        return _completion(await self._settings.transport.send(request), session_id)

    def stream(
        self,
        *,
        messages: Sequence[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | HasDefinitions | None = None,
        session_id: str | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ChatCompletionStream:
        """Run one chat turn as a stream of chunks.

        Use it as ``async with client.chat.completions.stream(...) as stream:``
        and iterate ``stream`` (chunks) or ``stream.text_stream`` (text);
        ``await stream.get_final_completion()`` gives the assembled completion.
        Arguments are checked now; the request is sent on entry (or on the
        first iteration) and retried only before the response starts.

        Args:
            messages: The messages (dicts or `Message`), oldest first.
            tools: Tool definitions, or a `ToolRegistry`, the model may call.
            session_id: Continue this session (sent as ``X-Session-ID``).
            timeout: Seconds for the whole call (the stream included), or a `Timeout`.
            extra_body: Fields merged into the request body as is.
            extra_headers: Headers merged into the request as is.

        Returns:
            The stream (not yet started).

        Raises:
            TypeError, ValueError: Invalid messages, tools or session id (nothing is sent).
        """
        request = self._request(
            messages=messages,
            tools=tools,
            stream=True,
            session_id=session_id,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        transport = self._settings.transport

        async def open_source() -> ByteSource:
            return await transport.send(request, stream=True)

        return ChatCompletionStream(
            open_source,
            url=request.url,
            session_id=session_id,
            redactor=transport.redactor,
            limits=transport.limits,
        )

    def _request(
        self,
        *,
        messages: Sequence[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | HasDefinitions | None,
        stream: bool,
        session_id: str | None,
        timeout: float | Timeout | None,
        extra_body: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Request:
        """The checked request of one chat turn, for `create` and `stream`."""
        check_session_id(session_id)
        settings = self._settings
        json, body = chat_request_body(messages, tools, stream=stream, extra_body=extra_body)
        return settings.build(
            "POST",
            settings.endpoints.chat_completions,
            json=json,
            body=body,
            session_id=session_id,
            timeout=timeout,
            extra_headers=extra_headers,
        )


class Chat:
    """``client.chat``: holds `completions`."""

    def __init__(self, settings: Settings) -> None:
        self.completions = Completions(settings)


class Sessions:
    """``client.sessions``: create, inspect and end conversation sessions (v1 API)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def create(
        self,
        session_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        provider: str | None = None,
    ) -> SessionCreated:
        """Create a session with an id of your choosing.

        Args:
            session_id: The new session's id.
            variables: Pathway variables to start with.
            provider: The provider name, if the pathway needs one.

        Returns:
            The session id and the pathway it runs.

        Raises:
            ConflictError: A session with this id exists.
            APIError: Any other failure.
        """
        body: dict[str, Any] = {"session_id": check_session_id(session_id)}
        if variables is not None:
            body["variables"] = dict(variables)
        if provider is not None:
            body["provider"] = provider
        url = self._settings.endpoints.sessions()
        data = (await self._settings.request("POST", url, json=body)).json()
        if isinstance(data, dict):
            data.setdefault("sessionId", session_id)
        return self._structure(data, SessionCreated, url)

    async def get(self, session_id: str) -> SessionState:
        """Fetch a session's variables and message history.

        Raises:
            ValueError: `session_id` is empty, ``.``, ``..`` or holds ``/`` (it
                would change the URL's path, not name a session).
            NotFoundError: No such session.
            APIError: Any other failure.
        """
        url = self._settings.endpoints.sessions(check_session_id(session_id))
        data = (await self._settings.request("GET", url, idempotent=True)).json()
        return self._structure(data, SessionState, url)

    async def end(self, session_id: str) -> SessionEnded:
        """End a session.

        Raises:
            NotFoundError: No such session.
            APIError: Any other failure.
        """
        body = {"session_id": check_session_id(session_id)}
        url = self._settings.endpoints.sessions()
        data = (await self._settings.request("DELETE", url, json=body, idempotent=True)).json()
        if isinstance(data, dict):
            data.setdefault("sessionId", session_id)
            data.setdefault("success", True)
        return self._structure(data, SessionEnded, url)

    def _structure(self, data: object, cls: type[ModelT], url: str) -> ModelT:
        try:
            return structure(data, cls)
        except ResponseShapeError as exc:
            # Not chained: the shape error quotes the server's values unredacted.
            problem = self._settings.transport.redactor.text(str(exc))
            raise APIError(f"unexpected answer from {url}: {problem}", url=url) from None
