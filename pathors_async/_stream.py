"""`ChatCompletionStream`: one streamed chat turn, from bytes to chunks.

It gets its bytes from a `ByteSource` (the transport's `ByteStream`, or in tests
a plain list of byte strings), feeds the pure SSE decoder (`_sse`), turns events
into chunks, keeps the pure delta accumulator (`_accumulator`) up to date, turns
every failure into a typed error carrying what arrived, and closes the source
on every way out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final, Protocol

import attrs

from ._accumulator import ChatCompletionAccumulator
from ._config import ResponseLimits
from ._converter import ResponseShapeError, chunk_from_json, completion_from_json
from ._errors import APIError, StreamError, clip_body
from ._json import JSONError, loads
from ._models import ChatCompletion, ChatCompletionChunk
from ._redact import Redactor
from ._sse import ServerSentEvent, SSEDecoder, SSELimitError

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["ByteList", "ByteSource", "ChatCompletionStream", "from_bytes"]

#: How long to wait, after [DONE], for the body's end, so the connection can be reused.
DRAIN_GRACE: Final = 0.25
#: How much of a non-stream 200 body to read to describe it.
MAX_DESCRIBED_BODY: Final = 65536
_DONE: Final = "[DONE]"


class ByteSource(Protocol):
    """An open response body: its headers, and its bytes as they arrive."""

    headers: Mapping[str, str]
    session_id: str | None

    @property
    def content_type(self) -> str:
        """The media type (e.g. ``text/event-stream``)."""
        ...

    def __aiter__(self) -> AsyncIterator[bytes]:
        """The body's bytes, in slices of any size; typed `APIError` on failure."""
        ...

    def close(self) -> None:
        """Close the body now (drop the connection unless it had ended)."""
        ...

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for the body's end, then close it."""
        ...


class ByteList:
    """A `ByteSource` over byte strings already in memory (for tests and benchmarks).

    Args:
        reads: The body, as the slices a reader would get.
        content_type: The media type to claim.
        session_id: The ``X-Session-ID`` to claim.
    """

    def __init__(
        self,
        reads: Iterable[bytes],
        *,
        content_type: str = "text/event-stream",
        session_id: str | None = None,
    ) -> None:
        self._reads = iter(reads)
        self.headers: Mapping[str, str] = {"Content-Type": content_type}
        self.session_id = session_id
        self.content_type = content_type
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        for data in self._reads:
            return data
        raise StopAsyncIteration

    def close(self) -> None:
        """Mark the source closed."""
        self.closed = True

    async def drain(self, grace: float) -> None:
        """Drop the rest of the reads and close."""
        self._reads = iter(())
        self.close()


def from_bytes(
    reads: Iterable[bytes],
    *,
    session_id: str | None = None,
    limits: ResponseLimits | None = None,
    content_type: str = "text/event-stream",
) -> ChatCompletionStream:
    """Make a `ChatCompletionStream` that reads `reads` instead of a network response.

    Args:
        reads: The body, as the slices a reader would get.
        session_id: The session id the request would have sent.
        limits: The bounds (default `ResponseLimits()`).
        content_type: The media type the body claims.

    Returns:
        The stream, not yet started.
    """
    source = ByteList(reads, content_type=content_type)

    async def open_source() -> ByteSource:
        return source

    return ChatCompletionStream(
        open_source,
        url="memory://stream",
        session_id=session_id,
        redactor=Redactor(None),
        limits=limits or ResponseLimits(),
    )


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
        open_source: Callable[[], Awaitable[ByteSource]],
        *,
        url: str,
        session_id: str | None,
        redactor: Redactor,
        limits: ResponseLimits,
    ) -> None:
        self._open_source = open_source
        self._url = url
        self._request_session_id = session_id
        self._redactor = redactor
        self._limits = limits
        self._source: ByteSource | None = None
        self._bytes: AsyncIterator[bytes] | None = None
        self._decoder = SSEDecoder(
            max_line_bytes=limits.max_line_bytes, max_event_bytes=limits.max_event_bytes
        )
        self._events: deque[ServerSentEvent] = deque()
        self._accumulator = ChatCompletionAccumulator()
        self._checked_session_id: str | None = None
        self._finished = False  # [DONE], or a clean end with every finish_reason
        self._closed = False
        self.session_id: str | None = session_id
        self.response_headers: Mapping[str, str] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._source else "not started"
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
        if self._source is not None:
            self._source.close()

    async def aclose(self) -> None:
        """Close the response (an awaitable alias of `close`)."""
        self.close()

    async def _start(self) -> None:
        if self._source is not None:
            return
        if self._closed:
            raise RuntimeError("this stream is closed; start a new one with stream(...)")
        source = await self._open_source()
        self._source = source
        self._bytes = aiter(source)
        self.response_headers = source.headers
        self.session_id = source.session_id or self._request_session_id
        self._accumulator = ChatCompletionAccumulator(session_id=source.session_id)
        if source.content_type != "text/event-stream":
            await self._not_a_stream()

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
        return self._with_session(self._accumulator.snapshot())

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
        return self.current_completion

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
                raise self._in_band_error(event.data)
            data = event.data
            if data == _DONE or (len(data) < 16 and data.strip() == _DONE):
                await self._end()
                return None
            if not data or data.isspace():
                continue
            chunk = self._parse(data)
            if chunk.session_id is not None and chunk.session_id != self._checked_session_id:
                self._check_session_id(chunk.session_id)
            self._accumulator.add(chunk)
            return chunk

    async def _read(self) -> None:
        """Read what has arrived and decode it into events; handle the end of the body."""
        assert self._bytes is not None  # noqa: S101 - _start ran
        try:
            data = await anext(self._bytes)
        except StopAsyncIteration:
            data = b""
        except APIError as exc:
            self.close()
            exc.partial_completion = self._partial()
            raise
        try:
            if data:
                self._events.extend(self._decoder.feed(data))
                return
            self._events.extend(self._decoder.close())
        except SSELimitError as exc:
            raise self._past_bound(exc) from None
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
        self.close()

    async def _end(self) -> None:
        """After [DONE]: wait briefly for the body's end so the connection can be reused."""
        self._finished = True
        assert self._source is not None  # noqa: S101 - _start ran
        await self._source.drain(DRAIN_GRACE)

    # ------------------------------------------------------------ failures

    def _with_session(self, completion: ChatCompletion) -> ChatCompletion:
        if completion.session_id is None and self._request_session_id is not None:
            return attrs.evolve(completion, session_id=self._request_session_id)
        return completion

    def _partial(self) -> ChatCompletion | None:
        return self.current_completion if self._accumulator.chunks else None

    def _check_session_id(self, session_id: str) -> None:
        try:
            self._redactor.received_session_id(session_id, url=self._url)
        except APIError as exc:
            self.close()
            exc.partial_completion = self._partial()
            raise
        self._checked_session_id = session_id

    def _parse(self, data: str) -> ChatCompletionChunk:
        try:
            payload = loads(data)
        except JSONError as exc:
            raise self._bad_chunk(data, f"is not JSON ({exc})") from None
        if isinstance(payload, dict) and "error" in payload:
            raise self._in_band_error(data)
        try:
            return chunk_from_json(payload)
        except ResponseShapeError as exc:
            raise self._bad_chunk(data, f"is not a chat.completion.chunk ({exc})") from None

    def _bad_chunk(self, data: str, problem: str) -> StreamError:
        self.close()
        return self._redactor.bad_chunk(
            data,
            problem=problem,
            where=f"chunk {self._accumulator.chunks + 1} of the stream from POST {self._url}",
            url=self._url,
            partial_completion=self._partial(),
        )

    def _in_band_error(self, data: str) -> APIError:
        """Turn an error sent inside the stream into a typed exception."""
        self.close()
        return self._redactor.in_band_error(
            data,
            said=(
                f"the server reported an error in the stream from POST {self._url} after "
                f"{self._accumulator.chunks} chunks"
            ),
            url=self._url,
            headers=self.response_headers or {},
            session_id=self.session_id,
            partial_completion=self._partial(),
        )

    def _past_bound(self, exc: SSELimitError) -> StreamError:
        self.close()
        return StreamError(
            f"the stream from POST {self._url} sent an event-stream "
            f"{'line' if exc.bound == 'max_line_bytes' else 'event'} longer than "
            f"ResponseLimits.{exc.bound} ({exc.limit} bytes) after {self._accumulator.chunks} "
            "chunks; if such answers are expected, raise it with "
            f"AsyncPathors(limits=ResponseLimits({exc.bound}={exc.limit * 4})); "
            ".partial_completion holds what arrived",
            url=self._url,
            partial_completion=self._partial(),
        )

    async def _not_a_stream(self) -> None:
        """A 200 that is not an event stream: describe it, keeping a JSON completion if sent."""
        assert self._bytes is not None  # noqa: S101 - _start ran
        raw = bytearray()
        try:
            async for data in self._bytes:
                raw += data
                if len(raw) >= MAX_DESCRIBED_BODY:
                    break
        except APIError:
            pass  # describe what arrived
        finally:
            self.close()
        text, payload = self._redactor.payload(bytes(raw[:MAX_DESCRIBED_BODY]))
        if (
            isinstance(payload, dict)
            and "choices" not in payload
            and ("error" in payload or "detail" in payload)
        ):
            raise self._in_band_error(text)
        content_type = (self.response_headers or {}).get("Content-Type", "no content type")
        partial = None
        said = f"{content_type} instead of an event stream (a proxy's page?); see .body"
        if isinstance(payload, dict) and "choices" in payload:
            try:
                partial = completion_from_json(payload, session_id=self.session_id)
            except ResponseShapeError:
                pass
            else:
                said = "a whole JSON completion instead of an event stream"
                said += " (see .partial_completion)"
        raise StreamError(
            f"POST {self._url} answered 200 with {said}",
            url=self._url,
            body=clip_body(text),
            partial_completion=partial,
        )
