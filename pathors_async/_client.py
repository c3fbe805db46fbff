"""`AsyncPathors`: configuration, the transport, and the ``chat``/``sessions`` namespaces.

The sending itself (pool, retries, errors, limits, redaction) is the
`Transport`'s job (`_transport`); the namespaces (`_resources`) use it.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from ._config import (
    DEFAULT_BASE_URL,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_PROJECT_ID,
    ApiPreset,
    Endpoints,
    ResponseLimits,
    RetryPolicy,
    Timeout,
    env_or,
    is_loopback,
    resolve_timeout,
)
from ._ids import check_api_key, check_headers
from ._ratelimit import RateLimit
from ._resources import Chat, Sessions, Settings
from ._transport import AIOHTTP_VERSION, Transport
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Self

__all__ = ["AsyncPathors"]

logger: Final = logging.getLogger("pathors_async")

USER_AGENT: Final = (
    f"pathors-async/{__version__} Python/{platform.python_version()} aiohttp/{AIOHTTP_VERSION}"
)

#: Hosts already warned about for plain http (once per process each).
_warned_plain_http: Final[set[str]] = set()


def _warn_plain_http(*urls: str) -> None:
    for url in urls:
        parts = urlsplit(url)
        if (
            parts.scheme == "http"
            and not is_loopback(url)
            and parts.netloc not in _warned_plain_http
        ):
            _warned_plain_http.add(parts.netloc)
            logger.warning(
                "sending the API key over plain http to %s: anyone on the way can read it; "
                "use https:// unless this is a trusted local network",
                parts.netloc,
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
        base_url: ``http(s)://host[:port][/prefix]``, without credentials;
            default ``PATHORS_BASE_URL``, else ``https://api.pathors.com``.
            Plain ``http://`` to a host other than this machine logs a warning
            (once per host).
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
        limits: `ResponseLimits`: how large a response may be (a stream's
            lines and events, a whole body after decompression).
        rate_limit: A `RateLimit`: each request (each retry too) waits for a
            slot under it; with ``shared=`` a `RedisStore`, the budget is
            shared by every process using that store. None: no limit.

    Raises:
        ValueError: No API key or project id (naming the argument and the
            environment variable), a bad URL (or one with credentials), a
            project id that is not one path segment, or a bad preset or option.
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
        limits: ResponseLimits = ResponseLimits(),  # noqa: B008 - immutable
        rate_limit: RateLimit | None = None,
    ) -> None:
        key = env_or(api_key, ENV_API_KEY)
        if not key:
            raise ValueError(f"no API key: pass api_key=... or set {ENV_API_KEY}")
        check_api_key(key)
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
        if not isinstance(limits, ResponseLimits):
            raise TypeError(f"limits must be a ResponseLimits, not {type(limits).__name__}")
        self.limits: ResponseLimits = limits
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int")
        if max_connections < 1:
            raise ValueError(f"max_connections must be 1 or more, got {max_connections}")
        self.max_connections = max_connections
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise TypeError(f"rate_limit must be a RateLimit, not {type(rate_limit).__name__}")
        self.rate_limit: RateLimit | None = rate_limit
        _warn_plain_http(self._endpoints.base_url, self._endpoints.chat_completions)
        self._transport = Transport(
            api_key=key,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **(check_headers(default_headers, "default_headers") or {}),
            },
            retry=retry,
            limits=limits,
            max_connections=max_connections,
            http_session=http_session,
            rate_limit=rate_limit,
        )
        settings = Settings(
            transport=self._transport, endpoints=self._endpoints, timeout=self.timeout
        )
        self.chat: Final = Chat(settings)
        self.sessions: Final = Sessions(settings)

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
        return self._transport.closed

    def __repr__(self) -> str:
        return (
            f"AsyncPathors(base_url={self.base_url!r}, project_id={self.project_id!r}, "
            f"api={self.api!r})"
        )

    async def __aenter__(self) -> Self:
        self._transport.session()
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

        A `ToolRegistry` used with this client is never closed here: it may be
        shared by other clients and agents, and is closed by its owner. Calling
        it again does nothing.
        """
        await self._transport.aclose()
