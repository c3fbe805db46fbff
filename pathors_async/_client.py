"""`AsyncPathors`: configuration, the aiohttp session, and the request primitive.

Every request goes through `AsyncPathors._open`, which sends, retries what the
`RetryPolicy` allows, maps error statuses to typed exceptions and returns an
open response; `_request_json` reads it as JSON. Streams (which must hand the
open response to the caller) will build on `_open` too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from ._config import (
    DEFAULT_BASE_URL,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_PROJECT_ID,
    ApiPreset,
    Endpoints,
    RetryPolicy,
    Timeout,
    env_or,
    resolve_timeout,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    clip_body,
    make_status_error,
    redact,
)
from ._registry import ToolRegistry
from ._resources import Chat, Sessions
from ._retry import Failure, retry_delay, sleep
from ._version import __version__

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncPathors"]

logger: Final = logging.getLogger("pathors_async")

USER_AGENT: Final = (
    f"pathors-async/{__version__} Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


class AsyncPathors:
    """An asyncio client for the Pathors chat-completions and session APIs.

    Create one per application and share it between tasks: it keeps a pool of
    connections. Use it as ``async with AsyncPathors() as client:`` or call
    `aclose` when done.

    Args:
        api_key: The API key (``dk_…`` or ``sk_…``); default ``PATHORS_API_KEY``.
        project_id: The Pathors project; default ``PATHORS_PROJECT_ID``. Not
            needed with `chat_completions_url` (but the session API needs it).
        base_url: Scheme and host; default ``PATHORS_BASE_URL``, else
            ``https://api.pathors.com``.
        api: ``"v1"`` (``/v1/projects/{id}/chat/completions``) or ``"legacy"``
            (``/api/project/{id}/integration/api/chat/completions``).
        chat_completions_url: A full URL for chat completions, replacing the
            preset (for any OpenAI-compatible server).
        timeout: A `Timeout`, or seconds for the total limit of each call.
        retry: The `RetryPolicy`.
        max_connections: Most connections open at once (the pool size).
        http_session: An `aiohttp.ClientSession` to use instead of our own; it
            is never closed by us.
        default_headers: Headers added to every request.

    Raises:
        ValueError: No API key or project id (naming the argument and the
            environment variable), or a bad URL, preset or option.
        TypeError: An option of the wrong type.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        project_id: str | None = None,
        base_url: str | None = None,
        api: ApiPreset = "v1",
        chat_completions_url: str | None = None,
        timeout: Timeout | float = Timeout(),  # noqa: B008 - immutable
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - immutable
        max_connections: int = 100,
        http_session: aiohttp.ClientSession | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        key = env_or(api_key, ENV_API_KEY)
        if not key:
            raise ValueError(f"no API key: pass api_key=... or set {ENV_API_KEY}")
        self._api_key: str = key
        self._endpoints = Endpoints.build(
            base_url=env_or(base_url, ENV_BASE_URL) or DEFAULT_BASE_URL,
            project_id=env_or(project_id, ENV_PROJECT_ID),
            api=api,
            chat_completions_url=chat_completions_url,
        )
        self.api: ApiPreset = api
        self.timeout: Timeout = resolve_timeout(Timeout(), timeout)
        if not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self.retry: RetryPolicy = retry
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int")
        if max_connections < 1:
            raise ValueError(f"max_connections must be 1 or more, got {max_connections}")
        self.max_connections = max_connections
        self._http = http_session
        self._owns_http = http_session is None
        self._closed = False
        self._headers: dict[str, str] = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **(default_headers or {}),
            "Authorization": f"Bearer {key}",
        }
        self._deprecations_logged: set[str] = set()
        self._registries: weakref.WeakSet[ToolRegistry] = weakref.WeakSet()
        self.chat: Final = Chat(self)
        self.sessions: Final = Sessions(self)

    @property
    def base_url(self) -> str:
        """The scheme, host and path prefix requests go to."""
        return self._endpoints.base_url

    @property
    def project_id(self) -> str | None:
        """The Pathors project, if configured."""
        return self._endpoints.project_id

    @property
    def chat_completions_url(self) -> str:
        """The full URL chat completions are posted to."""
        return self._endpoints.chat_completions

    @property
    def endpoints(self) -> Endpoints:
        """All URLs this client uses."""
        return self._endpoints

    @property
    def is_closed(self) -> bool:
        """Whether `aclose` was called."""
        return self._closed

    def __repr__(self) -> str:
        return (
            f"AsyncPathors(base_url={self.base_url!r}, project_id={self.project_id!r}, "
            f"api={self.api!r})"
        )

    async def __aenter__(self) -> Self:
        self._http_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (not a session passed as `http_session`).

        Also shuts down the worker threads of every `ToolRegistry` used with
        this client. Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        for registry in list(self._registries):
            registry.close()
        if self._owns_http and self._http is not None:
            await self._http.close()

    def adopt(self, tools: object) -> None:
        """Have `aclose` shut down this `ToolRegistry`'s worker threads too.

        Called for any registry passed as ``tools=``; other values are ignored.
        """
        if isinstance(tools, ToolRegistry):
            self._registries.add(tools)

    def _http_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(
                "this AsyncPathors client is closed; create a new one "
                "(or keep one open for the life of the application)"
            )
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        elif self._http.closed:
            raise RuntimeError(
                "the aiohttp.ClientSession passed as http_session is closed; "
                "keep it open while the client is in use"
            )
        return self._http

    def _headers_for(
        self, session_id: str | None, extra_headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        headers = self._headers.copy()
        if extra_headers:
            headers.update(extra_headers)
        if session_id is not None:
            headers["X-Session-ID"] = session_id
        return headers

    async def _open(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,  # noqa: ANN401 - any JSON value
        session_id: str | None = None,
        timeout: Timeout,
        extra_headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send a request, retrying as the policy allows; return the open response.

        The response has a status below 400; the caller must read or release it.

        Raises:
            APIStatusError: (a subclass of) for an error status not retried.
            APIConnectionError: The connection failed, was cut or timed out.
        """
        http = self._http_session()
        headers = self._headers_for(session_id, extra_headers)
        data = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode()
        loop = asyncio.get_running_loop()
        deadline = None if timeout.total is None else loop.time() + timeout.total

        def time_left() -> float | None:
            return None if deadline is None else deadline - loop.time()

        retries = 0
        while True:
            client_timeout = aiohttp.ClientTimeout(
                total=time_left(), sock_connect=timeout.connect, sock_read=timeout.read
            )
            try:
                response = await http.request(
                    method, url, data=data, headers=headers, timeout=client_timeout
                )
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error, failure = self._connection_error(exc, method, url, timeout)
                delay = retry_delay(
                    self.retry,
                    retries_done=retries,
                    failure=failure,
                    idempotent=idempotent,
                    time_left=time_left(),
                )
                if delay is None:
                    raise error from exc
                self._log_retry(method, url, delay, retries, redact(repr(exc), self._api_key))
            else:
                self._check_deprecation(response, url)
                if response.status < 400:
                    return response
                error_status = await self._status_error(response, method, url, session_id)
                delay = retry_delay(
                    self.retry,
                    retries_done=retries,
                    status=response.status,
                    headers=response.headers,
                    idempotent=idempotent,
                    time_left=time_left(),
                )
                if delay is None:
                    raise error_status
                self._log_retry(method, url, delay, retries, f"HTTP {response.status}")
            retries += 1
            await sleep(delay)

    async def _status_error(
        self, response: aiohttp.ClientResponse, method: str, url: str, session_id: str | None
    ) -> APIError:
        try:
            body = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            body = b""
        finally:
            response.release()
        return make_status_error(
            method=method,
            url=url,
            status_code=response.status,
            reason=response.reason,
            headers=response.headers,
            body=body,
            session_id=response.headers.get("X-Session-ID") or session_id,
            api_key=self._api_key,
        )

    def _connection_error(
        self, exc: BaseException, method: str, url: str, timeout: Timeout
    ) -> tuple[APIConnectionError, Failure | None]:
        """Map an aiohttp failure to our error and to what the retry logic needs."""
        where = f"{method} {url}"
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return APITimeoutError(
                f"could not connect within {timeout.connect} s (Timeout.connect): {where}",
                url=url,
            ), Failure.NOT_SENT
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return APITimeoutError(
                f"no data from the server for {timeout.read} s (Timeout.read): {where}",
                url=url,
            ), Failure.SENT
        if isinstance(exc, asyncio.TimeoutError):
            return APITimeoutError(
                f"the call took longer than {timeout.total} s (Timeout.total): {where}",
                url=url,
            ), None
        detail = redact(str(exc) or type(exc).__name__, self._api_key)
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return APIConnectionError(
                f"TLS certificate check failed for {where}: {detail}", url=url
            ), None
        if isinstance(exc, aiohttp.ClientConnectorError):
            return APIConnectionError(
                f"could not connect for {where}: {detail}", url=url
            ), Failure.NOT_SENT
        return APIConnectionError(
            f"the connection broke during {where} before a response: {detail}", url=url
        ), Failure.SENT

    def _log_retry(self, method: str, url: str, delay: float, retries: int, why: str) -> None:
        logger.info(
            "retrying %s %s in %.2f s (retry %d of %d) after %s",
            method,
            url,
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
                deprecation or "-",
                sunset or "-",
            )

    async def _request_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,  # noqa: ANN401 - any JSON value
        session_id: str | None = None,
        timeout: float | Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> tuple[Any, Mapping[str, str]]:
        """Send a request and return its decoded JSON body and headers.

        Raises:
            APIError: The body is not JSON, or any error `_open` raises.
        """
        resolved = resolve_timeout(self.timeout, timeout)
        response = await self._open(
            method,
            url,
            json_body=json_body,
            session_id=session_id,
            timeout=resolved,
            extra_headers=extra_headers,
            idempotent=idempotent,
        )
        try:
            body = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error, _ = self._connection_error(exc, method, url, resolved)
            raise error from exc
        finally:
            response.release()
        try:
            return json.loads(body), response.headers
        except ValueError:
            text = redact(body.decode("utf-8", errors="replace"), self._api_key)
            content_type = response.headers.get("Content-Type", "no content type")
            raise APIError(
                f"{response.status} from {method} {url} was not JSON "
                f"({content_type}, {len(body)} bytes; see .body)",
                url=url,
                body=clip_body(text),
            ) from None
