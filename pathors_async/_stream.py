"""`ChatCompletionStream`: one streamed chat turn over an open aiohttp response.

It reads the response, feeds the pure SSE decoder (`_sse`), turns events into
chunks, keeps the pure delta accumulator (`_accumulator`) up to date, turns
every failure into a typed error carrying what arrived, and closes the
response on every way out.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from ._accumulator import ChatCompletionAccumulator
from ._converter import ResponseShapeError, chunk_from_json, completion_from_json
from ._errors import (
    APIError,
    APITimeoutError,
    StreamError,
    clip_body,
    parse_error_body,
    redact,
    status_error_class,
)
from ._models import ChatCompletion, ChatCompletionChunk
from ._sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._client import AsyncPathors
    from ._config import Timeout

__all__ = ["ChatCompletionStream"]

#: How long to wait, after [DONE], for the body's end, so the connection can be reused.
DRAIN_GRACE: Final = 0.25
#: How much of a non-stream 200 body to read to describe it.
MAX_DESCRIBED_BODY: Final = 65536


class ChatCompletionStream:
    """One streamed chat turn: iterate it for `ChatCompletionChunk` objects.

    Use it as ``async with client.chat.completions.stream(...) as stream:``;
    the request is sent on entry (retried only before the response starts) and
    the response is closed on exit, whatever happens. Iterating it without
    ``async with`` also works: the request is sent on the first iteration and
    the response closes itself once the stream ends.

    Attributes:
        session_id: The session id, known as soon as the response headers arrive.
        response_headers: The response headers, once they arrive.
    """

    def __init__(
        self,
        client: AsyncPathors,
        *,
        url: str,
        body: Mapping[str, Any],
        session_id: str | None,
        timeout: Timeout,
        extra_headers: Mapping[str, str] | None,
    ) -> None:
        self._client = client
        self._url = url
        self._body = body
        self._request_session_id = session_id
        self._timeout = timeout
        self._extra_headers = extra_headers
        self._response: aiohttp.ClientResponse | None = None
        self._decoder = SSEDecoder()
        self._events: deque[ServerSentEvent] = deque()
        self._accumulator = ChatCompletionAccumulator()
        self._finished = False  # [DONE], or a clean end with every finish_reason
        self._closed = False
        self.session_id: str | None = session_id
        self.response_headers: Mapping[str, str] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._response else "not started"
        return (
            f"ChatCompletionStream({state}, chunks={self._accumulator.chunks}, "
            f"session_id={self.session_id!r})"
        )

    # ------------------------------------------------------------ life cycle

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the response now; the connection is dropped unless the stream had ended.

        Safe to call more than once, and from any state.
        """
        self._closed = True
        if self._response is not None:
            self._response.close()

    async def aclose(self) -> None:
        """Close the response (an awaitable alias of `close`)."""
        self.close()

    async def _start(self) -> None:
        if self._response is not None:
            return
        if self._closed:
            raise RuntimeError("this stream is closed; start a new one with stream(...)")
        response = await self._client._open(  # noqa: SLF001 - our own client
            "POST",
            self._url,
            json_body=self._body,
            session_id=self._request_session_id,
            timeout=self._timeout,
            extra_headers=self._extra_headers,
        )
        self._response = response
        self.response_headers = response.headers
        self.session_id = response.headers.get("X-Session-ID") or self._request_session_id
        self._accumulator = ChatCompletionAccumulator(
            session_id=response.headers.get("X-Session-ID")
        )
        if response.content_type != "text/event-stream":
            await self._not_a_stream(response)

    # ------------------------------------------------------------ consuming

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChatCompletionChunk]:
        try:
            await self._start()
            while (chunk := await self._next_chunk()) is not None:
                yield chunk
        finally:
            # Left early (break, an exception in the consumer, cancellation):
            # nothing will read the rest, so the connection is dropped now.
            if not self._finished:
                self.close()

    @property
    async def text_stream(self) -> AsyncIterator[str]:
        """The text deltas of the first choice, as they arrive."""
        async for chunk in self:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content

    @property
    def current_completion(self) -> ChatCompletion:
        """The completion assembled from the chunks received so far."""
        return self._accumulator.snapshot()

    async def get_final_completion(self) -> ChatCompletion:
        """Read the rest of the stream and return the whole completion.

        Returns:
            The completion assembled from every chunk.

        Raises:
            StreamError: The stream broke, or was closed before it ended
                (``.partial_completion`` holds what arrived).
            APIError: Any other failure while reading.
        """
        async for _ in self:
            pass
        if not self._finished:
            raise StreamError(
                f"the stream from POST {self._url} was closed before it ended "
                f"(after {self._accumulator.chunks} chunks); .partial_completion holds "
                "what arrived",
                url=self._url,
                partial_completion=self._partial(),
            )
        return self._accumulator.snapshot()

    async def _next_chunk(self) -> ChatCompletionChunk | None:
        """Return the next chunk, or None once the stream has ended."""
        events = self._events
        while True:
            while not events:
                if self._finished or self._closed:
                    return None
                await self._read()
            event = events.popleft()
            if event.event == "error":
                raise self._error_payload(event.data)
            data = event.data
            if data == "[DONE]":
                await self._end()
                return None
            if not data or data.isspace():
                continue
            chunk = self._parse(data)
            self._accumulator.add(chunk)
            return chunk

    async def _read(self) -> None:
        """Read what has arrived and decode it into events; handle the end of the body."""
        assert self._response is not None  # noqa: S101 - _start ran
        try:
            data = await self._response.content.readany()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise self._read_error(exc) from exc
        if data:
            self._events.extend(self._decoder.feed(data))
            return
        self._events.extend(self._decoder.close())
        if self._events:
            return  # the last events may still hold [DONE]
        if not self._accumulator.finished:
            raise StreamError(
                f"the stream from POST {self._url} ended after "
                f"{self._accumulator.chunks} chunks without [DONE] and before every choice "
                "had a finish_reason; .partial_completion holds what arrived (the turn may "
                "have run: check the session before sending it again)",
                url=self._url,
                partial_completion=self._partial(),
            )
        self._finished = True  # a server that omits [DONE] but finished every choice
        self._response.release()

    async def _end(self) -> None:
        """After [DONE]: wait briefly for the body's end so the connection can be reused."""
        self._finished = True
        response = self._response
        assert response is not None  # noqa: S101 - _start ran
        if response.content.at_eof():
            response.release()
            return
        try:
            await asyncio.wait_for(_drain(response.content), DRAIN_GRACE)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            response.close()  # not worth waiting for: drop the connection instead
        else:
            response.release()

    # ------------------------------------------------------------ failures

    def _partial(self) -> ChatCompletion | None:
        return self._accumulator.snapshot() if self._accumulator.chunks else None

    def _parse(self, data: str) -> ChatCompletionChunk:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise self._bad_chunk(data, f"is not JSON ({exc})") from None
        if isinstance(payload, dict) and "error" in payload:
            raise self._error_payload(data)
        try:
            return chunk_from_json(payload)
        except ResponseShapeError as exc:
            raise self._bad_chunk(data, f"is not a chat.completion.chunk ({exc})") from None

    def _bad_chunk(self, data: str, problem: str) -> StreamError:
        return StreamError(
            f"chunk {self._accumulator.chunks + 1} of the stream from POST {self._url} "
            f"{problem}: data: {clip_body(data, 200)}",
            url=self._url,
            body=clip_body(data),
            partial_completion=self._partial(),
        )

    def _error_payload(self, data: str) -> APIError:
        """Turn an error sent inside the stream into a typed exception."""
        self.close()
        text = redact(data, self._client._api_key)  # noqa: SLF001 - our own client
        message, details = parse_error_body(text)
        if message is None:
            message = text.strip() or "no details given"
        status = _status_in(text)
        said = (
            f"the server reported an error in the stream from POST {self._url} after "
            f"{self._accumulator.chunks} chunks: {message}"
        )
        if status is None:
            return StreamError(
                said, url=self._url, body=clip_body(text), partial_completion=self._partial()
            )
        return status_error_class(status)(
            said,
            url=self._url,
            status_code=status,
            headers=self.response_headers or {},
            body=clip_body(text),
            session_id=self.session_id,
            details=details,
            partial_completion=self._partial(),
        )

    def _read_error(self, exc: BaseException) -> APIError:
        self.close()
        chunks = self._accumulator.chunks
        where = f"the stream from POST {self._url} after {chunks} chunks"
        timeout = self._timeout
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return APITimeoutError(
                f"no data for {timeout.read} s (Timeout.read) in {where}; "
                ".partial_completion holds what arrived",
                url=self._url,
                partial_completion=self._partial(),
            )
        if isinstance(exc, asyncio.TimeoutError):
            return APITimeoutError(
                f"{where} took longer than {timeout.total} s (Timeout.total); "
                ".partial_completion holds what arrived",
                url=self._url,
                partial_completion=self._partial(),
            )
        detail = redact(str(exc) or type(exc).__name__, self._client._api_key)  # noqa: SLF001
        return StreamError(
            f"the connection was cut during {where}, before it ended: {detail}; "
            ".partial_completion holds what arrived (the turn may have run: check the "
            "session before sending it again)",
            url=self._url,
            partial_completion=self._partial(),
        )

    async def _not_a_stream(self, response: aiohttp.ClientResponse) -> None:
        """A 200 that is not an event stream: describe it, keeping a JSON completion if sent."""
        try:
            raw = await response.content.read(MAX_DESCRIBED_BODY)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raw = b""
        finally:
            self.close()
        text = redact(raw.decode("utf-8", "replace"), self._client._api_key)  # noqa: SLF001
        content_type = response.headers.get("Content-Type", "no content type")
        partial = None
        try:
            payload = json.loads(text)
            if isinstance(payload, dict) and "error" in payload:
                raise self._error_payload(text)
            partial = completion_from_json(payload, session_id=self.session_id)
            said = "a whole JSON completion instead of an event stream (see .partial_completion)"
        except (ValueError, ResponseShapeError):
            said = f"{content_type} instead of an event stream (a proxy's page?); see .body"
        raise StreamError(
            f"POST {self._url} answered 200 with {said}",
            url=self._url,
            body=clip_body(text),
            partial_completion=partial,
        )


async def _drain(content: aiohttp.StreamReader) -> None:
    """Read and drop whatever is left of a body."""
    while await content.readany():
        pass


def _status_in(text: str) -> int | None:
    """Find an HTTP status in an error payload (``status``, ``status_code`` or ``code``)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("status", "status_code", "code"):
        value = error.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    return None
