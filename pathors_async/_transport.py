"""`Transport`: the aiohttp session and the one request primitive, `Transport.send`.

The only module (with ``testing/``) that imports aiohttp. `send` sends a request,
retries what the `RetryPolicy` allows, turns error statuses into typed
exceptions (through `Redactor`, so the key never rides along), refuses
redirects, checks the session id the server sent, and returns either a whole
`Response` (body read within `ResponseLimits`) or an open `ByteStream`.
aiohttp's exceptions become ours in one function, `map_aiohttp_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Mapping
from typing import Final, Literal, overload

import aiohttp

from ._config import ResponseLimits, RetryPolicy, Timeout
from ._content import ACCEPT_ENCODING, ContentDecoder
from ._errors import APIError, StreamError, clip_body
from ._exchange import Request, Response, too_large
from ._failures import Cause, Phase, connection_error
from ._json import dumps
from ._limiter import NO_SLOT, Limiter, Slot
from ._ratelimit import RateLimit
from ._redact import Redactor
from ._retry import Failure, retry_delay, sleep

__all__ = [
    "AIOHTTP_VERSION",
    "ERROR_BODY_BYTES",
    "ByteStream",
    "Request",
    "Response",
    "Transport",
    "aiohttp_timeout",
    "map_aiohttp_error",
]

logger: Final = logging.getLogger("pathors_async")

AIOHTTP_VERSION: Final = aiohttp.__version__
#: How much of an error body is read (the rest is dropped with the connection).
ERROR_BODY_BYTES: Final = 64 * 1024
#: How many distinct `Timeout` values keep a ready-made aiohttp timeout.
_TIMEOUTS_KEPT: Final = 16


def map_aiohttp_error(
    exc: BaseException, *, request: Request, phase: Phase, redactor: Redactor
) -> tuple[APIError, Failure | None]:
    """Turn an aiohttp (or timeout) exception into ours; the one place this is done.

    The aiohttp exception is kept as ``__cause__`` unless its text holds the key.

    Args:
        exc: What aiohttp raised.
        request: The request under way.
        phase: ``"send"`` (no response yet), ``"body"`` (reading a whole body) or
            ``"stream"`` (reading a stream the caller is consuming).
        redactor: Removes the key from the exception's text.

    Returns:
        The typed error, and for the retry logic whether the request was sent
        (None: no retry can help).
    """
    detail = redactor.text(str(exc) or type(exc).__name__)
    error, failure = connection_error(_cause(exc), request=request, phase=phase, detail=detail)
    text = f"{exc!s} {exc!r}"
    error.__cause__ = exc if redactor.text(text) == text else None
    error.__suppress_context__ = True
    return error, failure


def _cause(exc: BaseException) -> Cause:
    """Sort what aiohttp raised into a `Cause`."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Cause.CONNECT_TIMEOUT
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return Cause.READ_TIMEOUT
    if isinstance(exc, asyncio.TimeoutError):
        return Cause.TOTAL_TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Cause.CERTIFICATE
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Cause.CONNECT
    return Cause.BROKEN


#: The smallest total limit handed to aiohttp (it reads 0 or less as no limit at all).
MIN_TIME_LEFT: Final = 0.001


def aiohttp_timeout(timeout: Timeout, time_left: float | None) -> aiohttp.ClientTimeout:
    """The aiohttp timeout for one attempt with `time_left` seconds of `Timeout.total` left.

    When `Timeout.read` is no shorter than the time left, the total limit always
    ends a silent wait first, so the read timer (which aiohttp re-arms for every
    packet) is left out: one timer per request instead of two, the same errors.

    Args:
        timeout: The call's limits.
        time_left: Seconds left of `Timeout.total` (None: no limit). Zero or less
            becomes a millisecond: aiohttp reads a total of 0 or less as "no limit".
    """
    if time_left is not None:
        time_left = max(time_left, MIN_TIME_LEFT)
    read = timeout.read
    if read is not None and time_left is not None and read >= time_left:
        read = None
    return aiohttp.ClientTimeout(total=time_left, sock_connect=timeout.connect, sock_read=read)


def _decoder(
    response: aiohttp.ClientResponse, request: Request, budget: int, redactor: Redactor
) -> ContentDecoder:
    try:
        return ContentDecoder(response.headers.get("Content-Encoding"), budget)
    except ValueError as exc:  # the message quotes the header, which may echo the key
        response.close()
        problem = redactor.text(str(exc))
        raise APIError(f"{request.where} answered with an {problem}", url=request.url) from None


class ByteStream:
    """An open response body, read as it arrives: iterate it for decoded bytes.

    Errors while reading are typed (`APITimeoutError`, `StreamError` for a cut
    or a body past `ResponseLimits.max_body_bytes`). `close` drops the
    connection unless the body was read to its end; `drain` gives the end a
    moment to arrive, so the connection can be reused.

    Attributes:
        status: The HTTP status (below 300).
        headers: The response headers, the key removed from their values.
        session_id: The checked ``X-Session-ID`` header, or None.
        content_type: The media type (e.g. ``text/event-stream``).
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        request: Request,
        *,
        redactor: Redactor,
        limits: ResponseLimits,
        session_id: str | None,
        headers: Mapping[str, str],
        slot: Slot = NO_SLOT,
    ) -> None:
        self._response = response
        self._slot = slot  # a rate-limit place, held until the body is done with
        self._request = request
        self._redactor = redactor
        self._limit = limits.max_body_bytes
        # None for an identity body (the usual case): counted here, not decoded.
        self._decoder = (
            _decoder(response, request, self._limit, redactor) if _encoded(response) else None
        )
        self._size = 0
        self.status = response.status
        self.headers = headers
        self.session_id = session_id
        #: "stream" (a caller reads it as it arrives) or "body" (read whole), for errors.
        self.phase: Phase = "stream"
        self._read_limit: float | None = None  # set by watch_reads
        self._waiting_since: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def content_type(self) -> str:
        """The media type (e.g. ``text/event-stream``), read from the headers when asked."""
        return self._response.content_type

    def __aiter__(self) -> ByteStream:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._decoder is not None and self._decoder.has_more:
                if data := self._decode(b""):
                    return data
                continue
            try:
                raw = await self._readany()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.close()
                raise self._error(exc)  # noqa: B904 - the cause is set, or hidden, on purpose
            if not raw:
                self._stop_watching()
                self._response.release()
                self._slot.release()
                raise StopAsyncIteration
            if self._decoder is None:
                self._size += len(raw)
                if self._size <= self._limit:
                    return raw
                self.close()
                raise too_large(self._request, self._limit, stream=self.phase == "stream")
            if data := self._decode(raw):
                return data

    def watch_reads(self, limit: float | None) -> None:
        """Time the waits for data here (`Timeout.read`), instead of on every packet.

        aiohttp re-arms its read timer for each packet that arrives, which for a
        stream of small events costs more than decoding them. Here one timer runs
        per `limit` seconds: when it fires while a read has waited `limit`
        seconds, the read fails as aiohttp's own timeout would.

        Args:
            limit: `Timeout.read` (None: no limit).
        """
        connection = self._response.connection
        if limit is None or connection is None or connection.protocol is None:
            return
        connection.protocol.read_timeout = None  # from the next packet on, ours alone
        self._read_limit = limit

    async def _readany(self) -> bytes:
        limit = self._read_limit
        if limit is None:
            return await self._response.content.readany()
        loop = asyncio.get_running_loop()
        self._waiting_since = since = loop.time()
        if self._watchdog is None:
            self._watchdog = loop.call_at(since + limit, self._check_wait)
        try:
            return await self._response.content.readany()
        finally:
            self._waiting_since = None

    def _check_wait(self) -> None:
        self._watchdog = None
        since, limit = self._waiting_since, self._read_limit
        if since is None or limit is None:
            return  # not waiting now: the next read arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < since + limit:
            self._watchdog = loop.call_at(since + limit, self._check_wait)
            return
        timeout = aiohttp.ServerTimeoutError("Timeout on reading data from socket")
        self._response.content.set_exception(timeout)

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def read_all(self) -> bytes:
        """Read the whole body (within `ResponseLimits.max_body_bytes`) and release it.

        Raises:
            APIError: The body is past its bound, corrupt, or the connection
                broke or went silent while it was read.
        """
        length = self._response.content_length
        if self._decoder is None and length is not None:
            if length > self._limit:
                self.close()
                raise too_large(self._request, self._limit, stream=self.phase == "stream")
            try:  # a declared length within the bound: read it in one go
                data = await self._response.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.close()
                raise self._error(exc)  # noqa: B904 - the cause is set, or hidden, on purpose
            self._response.release()
            self._slot.release()
            return data
        return b"".join([data async for data in self])

    def _decode(self, raw: bytes) -> bytes:
        assert self._decoder is not None  # noqa: S101 - only called for an encoded body
        try:
            data = self._decoder.feed(raw)
        except zlib.error as exc:
            self.close()
            kind = StreamError if self.phase == "stream" else APIError
            message = f"the compressed body from {self._request.where} is corrupt ({exc})"
            raise kind(message, url=self._request.url) from None
        if self._decoder.over_limit:
            self.close()
            raise too_large(self._request, self._limit, stream=self.phase == "stream")
        return data

    def _error(self, exc: BaseException) -> APIError:
        error, _ = map_aiohttp_error(
            exc, request=self._request, phase=self.phase, redactor=self._redactor
        )
        return error

    def close(self) -> None:
        """Close the body: the connection is kept for reuse only if the body had ended."""
        self._stop_watching()
        self._slot.release()
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for the body's end, then close it.

        Args:
            grace: Seconds to wait for the rest of the body (dropped unread).
        """
        content = self._response.content
        if not content.at_eof():
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.wait_for(_drain(content), grace)
        self.close()


async def _drain(content: aiohttp.StreamReader) -> None:
    while await content.readany():
        pass


class Transport:
    """The connection pool and `send`, shared by everything a client does.

    Created by `AsyncPathors`; the aiohttp session is made on first use, inside
    the running event loop, and the transport stays bound to that loop.

    Args:
        api_key: The key, sent as ``Authorization: Bearer …`` and redacted
            from everything a server sends back.
        headers: Headers for every request (the key is added here).
        retry: The retry policy.
        limits: The response size bounds.
        max_connections: The pool size.
        http_session: A session to use instead of our own (never closed by us).
        rate_limit: Each attempt waits for a slot under it (None: no limit).
    """

    def __init__(
        self,
        *,
        api_key: str,
        headers: Mapping[str, str],
        retry: RetryPolicy,
        limits: ResponseLimits,
        max_connections: int,
        http_session: aiohttp.ClientSession | None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.redactor = Redactor(api_key)
        self.limiter = None if rate_limit is None else Limiter(rate_limit)
        self.retry = retry
        self.limits = limits
        self.max_connections = max_connections
        self._headers = {
            "Accept-Encoding": ACCEPT_ENCODING,
            **headers,
            "Authorization": f"Bearer {api_key}",
        }
        self._http = http_session
        self._owns_http = http_session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._deprecations_logged: set[str] = set()
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Transport({state}, max_connections={self.max_connections})"

    @property
    def closed(self) -> bool:
        """Whether `aclose` was called."""
        return self._closed

    @property
    def http_session(self) -> aiohttp.ClientSession | None:
        """The aiohttp session, once made (or the one given)."""
        return self._http

    async def aclose(self) -> None:
        """Close the pool (not a session that was given). Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http and self._http is not None:
            await self._http.close()

    def session(self) -> aiohttp.ClientSession:
        """Return the aiohttp session, making it on first use in the running loop.

        Raises:
            RuntimeError: The client is closed, the given session is closed, or
                this is not the event loop the client was first used in.
        """
        if self._closed:
            raise RuntimeError(
                "this AsyncPathors client is closed; create a new one "
                "(or keep one open for the life of the application)"
            )
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this AsyncPathors client was first used in another event loop, and its "
                "connections belong to that loop; create one client per event loop "
                "(e.g. inside the coroutine you pass to asyncio.run)"
            )
        if self._http is None:
            # Our headers are the session's defaults: a request passes only what it adds,
            # and aiohttp merges them with less work than a whole dict per request.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=None),
                headers=self._headers,
            )
        elif self._http.closed:
            raise RuntimeError(
                "the aiohttp.ClientSession passed as http_session is closed; "
                "keep it open while the client is in use"
            )
        return self._http

    # ------------------------------------------------------------ the primitive

    @overload
    async def send(self, request: Request, *, stream: Literal[False] = False) -> Response: ...

    @overload
    async def send(self, request: Request, *, stream: Literal[True]) -> ByteStream: ...

    async def send(self, request: Request, *, stream: bool = False) -> Response | ByteStream:
        """Send `request`, retrying as the policy allows.

        Args:
            request: What to send.
            stream: Return the open body as a `ByteStream` instead of reading it.

        Returns:
            The whole `Response`, or the open `ByteStream` (the caller closes it).

        Raises:
            APIStatusError: (a subclass of) for an error status not retried.
            APIConnectionError: The connection failed, was cut or timed out.
            APIError: A redirect, a bad session id, a body past its bound, or
                an unsupported encoding.
            ValueError: The request body cannot be encoded as JSON, or a header
                (of an `http_session` the caller gave) cannot be sent.
        """
        http = self.session()
        headers = self._headers_for(request)
        data = request.body if request.json is None else dumps(request.json)
        loop = asyncio.get_running_loop()
        total = request.timeout.total
        deadline = None if total is None else loop.time() + total
        retries = 0
        while True:
            # the rate limit's one hook: each attempt waits for a slot (not counted in
            # Timeout.total), held until the response is done with
            slot = NO_SLOT if self.limiter is None else await self.limiter.take()
            if deadline is not None and slot.waited:
                deadline += slot.waited
            if retries or slot.waited:
                time_left = None if deadline is None else deadline - loop.time()
                client_timeout = aiohttp_timeout(request.timeout, time_left)
            else:
                client_timeout = self._first_timeout(request.timeout)
            try:
                response = await http.request(
                    request.method,
                    request.url,
                    data=data,
                    headers=headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                    auto_decompress=False,
                )
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error, failure = map_aiohttp_error(
                    exc, request=request, phase="send", redactor=self.redactor
                )
                status, retry_headers, why = None, None, self.redactor.text(repr(exc))
            except ValueError as exc:  # a header aiohttp refuses to write (CR, LF, NUL…)
                raise ValueError(
                    f"a request header cannot be sent: {self.redactor.text(str(exc))} "
                    "(check default_headers, extra_headers and the http_session's headers)"
                ) from None
            else:
                if response.status < 300:
                    return await self._success(response, request, stream=stream, slot=slot)
                error = await self._failure(response, request)
                failure, status, retry_headers = None, response.status, response.headers
                why = f"HTTP {response.status}"
                if status == 429 and self.limiter is not None:  # pause everyone sharing it
                    await self.limiter.pause_after(retry_headers, cap=self.retry.retry_after_max)
            finally:
                slot.release()  # unless a ByteStream holds it now
            if status is not None and status < 400:
                raise error  # a redirect: never followed, never retried
            delay = retry_delay(
                self.retry,
                retries_done=retries,
                status=status,
                failure=failure,
                headers=retry_headers,
                idempotent=request.idempotent,
                time_left=None if deadline is None else deadline - loop.time(),
            )
            if delay is None:
                raise error
            self._log_retry(request, delay, retries, why)
            retries += 1
            await sleep(delay)

    def _first_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """The aiohttp timeout of a first attempt, made once per `Timeout`."""
        made = self._timeouts.get(timeout)
        if made is None:
            if len(self._timeouts) >= _TIMEOUTS_KEPT:  # per-call timeouts: keep a few
                self._timeouts.clear()
            made = self._timeouts[timeout] = aiohttp_timeout(timeout, timeout.total)
        return made

    def _headers_for(self, request: Request) -> Mapping[str, str] | None:
        """The headers to pass for `request`: the session's defaults are ours when we made it."""
        if not request.extra_headers and request.session_id is None:
            return None if self._owns_http else self._headers  # aiohttp copies what it gets
        headers = {} if self._owns_http else self._headers.copy()
        if request.extra_headers:
            headers.update(request.extra_headers)
        if request.session_id is not None:
            headers["X-Session-ID"] = request.session_id
        return headers

    async def _success(
        self,
        response: aiohttp.ClientResponse,
        request: Request,
        *,
        stream: bool,
        slot: Slot = NO_SLOT,
    ) -> Response | ByteStream:
        self._check_deprecation(response, request.url)
        try:
            session_id = self.redactor.received_session_id(
                response.headers.get("X-Session-ID"), url=request.url
            )
        except APIError:
            response.close()
            raise
        headers = self.redactor.headers(response.headers)
        length = response.content_length
        if (
            not stream
            and length is not None
            and length <= self.limits.max_body_bytes
            and not _encoded(response)
        ):  # the usual whole body: read in one go, no ByteStream (the slot is freed by send)
            return Response(
                status=response.status,
                headers=headers,
                body=await self._read(response, request),
                session_id=session_id,
                request=request,
                redactor=self.redactor,
            )
        body = ByteStream(
            response,
            request,
            redactor=self.redactor,
            limits=self.limits,
            session_id=session_id,
            headers=headers,
            slot=slot.hand_over(),
        )
        if stream:
            body.watch_reads(request.timeout.read)
            return body
        body.phase = "body"
        return Response(
            status=response.status,
            headers=body.headers,
            body=await body.read_all(),
            session_id=session_id,
            request=request,
            redactor=self.redactor,
        )

    async def _read(self, response: aiohttp.ClientResponse, request: Request) -> bytes:
        """Read a whole identity body of a declared length within the bound, and release it.

        Raises:
            APIError: The connection broke or went silent while it was read.
        """
        try:
            data = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            response.close()
            error, _ = map_aiohttp_error(exc, request=request, phase="body", redactor=self.redactor)
            raise error  # noqa: B904 - the cause is set, or hidden, on purpose
        response.release()
        return data

    async def _failure(self, response: aiohttp.ClientResponse, request: Request) -> APIError:
        """Build the error for a 3xx or an error status, reading at most 64 KiB of its body."""
        headers = self.redactor.headers(response.headers)
        if response.status < 400:
            response.close()
            return self.redactor.redirect_error(
                where=request.where, url=request.url, status=response.status, headers=headers
            )
        body = bytearray()
        cut = False
        try:
            decoder = ContentDecoder(response.headers.get("Content-Encoding"), ERROR_BODY_BYTES)
            while raw := await response.content.readany():
                body += decoder.feed(raw)
                if decoder.over_limit:
                    cut = True
                    break
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            response.close()
            error, _ = map_aiohttp_error(exc, request=request, phase="body", redactor=self.redactor)
            return self.redactor.cut_error_body(
                error, status=response.status, where=request.where, body=bytes(body)
            )
        except (ValueError, zlib.error):
            cut = True  # an encoding we cannot read: the status still says what happened
        if cut:
            response.close()
        else:
            response.release()
        try:
            session_id = self.redactor.received_session_id(
                response.headers.get("X-Session-ID"), url=request.url
            )
        except APIError:
            session_id = None
        return self.redactor.status_error(
            method=request.method,
            url=request.url,
            status_code=response.status,
            reason=response.reason,
            headers=headers,
            body=bytes(body[:ERROR_BODY_BYTES]),
            session_id=session_id or request.session_id,
            cut=cut,
        )

    def _log_retry(self, request: Request, delay: float, retries: int, why: str) -> None:
        logger.info(
            "retrying %s in %.2f s (retry %d of %d) after %s",
            request.where,
            delay,
            retries + 1,
            self.retry.max_retries,
            why,
        )

    def _check_deprecation(self, response: aiohttp.ClientResponse, url: str) -> None:
        deprecation = response.headers.get("Deprecation")
        sunset = response.headers.get("Sunset")
        if (deprecation or sunset) and url not in self._deprecations_logged:
            self._deprecations_logged.add(url)
            logger.warning(
                "the service marks %s as deprecated (Deprecation: %s, Sunset: %s); "
                "if this is the legacy path, switch to api='v1'",
                url,
                clip_body(self.redactor.text(deprecation or "-"), 100),
                clip_body(self.redactor.text(sunset or "-"), 100),
            )


def _encoded(response: aiohttp.ClientResponse) -> bool:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    return encoding not in ("", "identity")
