"""Configuration: `Timeout`, `RetryPolicy`, endpoint presets and the environment."""

from __future__ import annotations

import math
import os
from typing import Any, Final, Literal
from urllib.parse import quote

import attrs

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY_STATUSES",
    "ApiPreset",
    "Endpoints",
    "RetryPolicy",
    "Timeout",
    "env_or",
    "resolve_timeout",
]

DEFAULT_BASE_URL: Final = "https://api.pathors.com"
ENV_API_KEY: Final = "PATHORS_API_KEY"
ENV_PROJECT_ID: Final = "PATHORS_PROJECT_ID"
ENV_BASE_URL: Final = "PATHORS_BASE_URL"

#: Statuses that say "nothing ran, try again" (or "slow down").
DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 502, 503, 504})

ApiPreset = Literal["v1", "legacy"]

_CHAT_PATHS: Final[dict[str, str]] = {
    "v1": "/v1/projects/{project_id}/chat/completions",
    "legacy": "/api/project/{project_id}/integration/api/chat/completions",
}


def _check_seconds(instance: object, name: str, value: object, *, positive: bool) -> None:
    label = f"{type(instance).__name__}.{name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{label} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value < 0 or (positive and value == 0):
        kind = "more than zero" if positive else "zero or more"
        raise ValueError(f"{label} must be {kind} seconds, got {value}")


def _limit(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate a time limit: a positive number of seconds, or None for no limit."""
    if value is not None:
        _check_seconds(instance, attribute.name, value, positive=True)


def _delay(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validate a wait: zero or more seconds."""
    _check_seconds(instance, attribute.name, value, positive=False)


@attrs.frozen(kw_only=True)
class Timeout:
    """How long a request may take, in seconds; None means no limit.

    Args:
        connect: Longest wait to open a TCP/TLS connection.
        read: Longest silence between two reads of the response (streams
            included): a stalled server fails after this long.
        total: The whole call: every attempt, the waits between retries, and
            the response body (a stream's too).

    Raises:
        TypeError, ValueError: A limit is not a positive number or None.
    """

    connect: float | None = attrs.field(default=10.0, validator=_limit)
    read: float | None = attrs.field(default=120.0, validator=_limit)
    total: float | None = attrs.field(default=600.0, validator=_limit)


def _non_negative_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"RetryPolicy.{attribute.name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be 0 or more, got {value}")


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, int) or not hasattr(value, "__iter__"):
        raise TypeError("RetryPolicy.retry_statuses must be a set of HTTP statuses, e.g. {503}")
    statuses = frozenset(value)
    bad = sorted(str(s) for s in statuses if not isinstance(s, int) or not 100 <= s <= 599)
    if bad:
        raise ValueError(f"RetryPolicy.retry_statuses has non-HTTP statuses: {', '.join(bad)}")
    return statuses


def _fraction(_: object, __: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"RetryPolicy.jitter must be between 0 and 1, got {value}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Which failures are retried, how often, and how long to wait between tries.

    The default retries only what cannot have run a (billed, state-changing)
    chat turn, or what the server asked to be retried: connection failures
    before the request was sent, and 408/429/502/503/504. A 500 is not retried:
    the turn may have run. Widen it with `retry_statuses` (e.g. add 500) and
    `retry_on_disconnect`.

    Args:
        max_retries: Retries after the first attempt (0 turns retrying off).
        backoff_initial: The first wait, doubled for each further retry.
        backoff_max: The longest computed wait.
        jitter: The share of each computed wait taken off at random (0 to 1),
            so many clients do not retry in lockstep.
        retry_statuses: HTTP statuses to retry.
        retry_on_disconnect: Also retry a connection cut after the request was
            sent, without a response (the turn may have run). Requests that
            change nothing (``GET``) are retried on it anyway.
        retry_after_max: The longest wait honoured from ``Retry-After`` or
            ``retry-after-ms``; longer asks are cut to this.

    Raises:
        TypeError, ValueError: An option is out of range.
    """

    max_retries: int = attrs.field(default=2, validator=_non_negative_int)
    backoff_initial: float = attrs.field(default=0.5, validator=_delay)
    backoff_max: float = attrs.field(default=8.0, validator=_delay)
    jitter: float = attrs.field(default=0.25, validator=_fraction)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=_statuses
    )
    retry_on_disconnect: bool = False
    retry_after_max: float = attrs.field(default=60.0, validator=_delay)


@attrs.frozen(kw_only=True)
class Endpoints:
    """The URLs a client talks to, built once from its configuration."""

    base_url: str
    project_id: str | None
    chat_completions: str

    @classmethod
    def build(
        cls,
        *,
        base_url: str,
        project_id: str | None,
        api: str,
        chat_completions_url: str | None,
    ) -> Endpoints:
        """Resolve the URLs for a base URL, project and API preset.

        Args:
            base_url: Scheme and host (and optional path prefix).
            project_id: The Pathors project, or None with `chat_completions_url`.
            api: ``"v1"`` or ``"legacy"``.
            chat_completions_url: A full URL that replaces the chat path.

        Returns:
            The endpoints.

        Raises:
            ValueError: Unknown `api`, a URL that is not http(s), or no project id
                where one is needed.
        """
        if api not in _CHAT_PATHS:
            raise ValueError(f"api must be 'v1' or 'legacy', got {api!r}")
        base_url = _http_url(base_url, "base_url").rstrip("/")
        if chat_completions_url is not None:
            chat = _http_url(chat_completions_url, "chat_completions_url")
        elif project_id is None:
            raise ValueError(
                f"no project id: pass project_id=... or set {ENV_PROJECT_ID} "
                "(or give chat_completions_url= for another OpenAI-compatible server)"
            )
        else:
            chat = base_url + _CHAT_PATHS[api].format(project_id=quote(project_id, safe=""))
        return cls(base_url=base_url, project_id=project_id, chat_completions=chat)

    def sessions(self, session_id: str | None = None) -> str:
        """Return the session API URL, for one session if `session_id` is given.

        Raises:
            ValueError: The client has no project id.
        """
        if self.project_id is None:
            raise ValueError(
                f"the session API needs a project id: pass project_id=... or set {ENV_PROJECT_ID}"
            )
        url = f"{self.base_url}/v1/projects/{quote(self.project_id, safe='')}/sessions"
        return url if session_id is None else f"{url}/{quote(session_id, safe='')}"


def resolve_timeout(default: Timeout, override: float | Timeout | None) -> Timeout:
    """Return the timeout for one call.

    Args:
        default: The client's timeout.
        override: None (use the default), a `Timeout`, or a number of seconds
            that replaces `total`.

    Returns:
        The timeout to apply.
    """
    if override is None:
        return default
    if isinstance(override, Timeout):
        return override
    return Timeout(connect=default.connect, read=default.read, total=override)


def _http_url(url: object, name: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url


def env_or(value: str | None, variable: str) -> str | None:
    """Return `value`, else the environment variable (empty counts as unset).

    Args:
        value: The explicit argument.
        variable: The environment variable to fall back on.

    Returns:
        The value, or None if neither is set.
    """
    if value is not None:
        return value
    return os.environ.get(variable) or None
