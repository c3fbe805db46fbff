"""Configuration: `Timeout`, `RetryPolicy`, `ResponseLimits`, endpoints and the environment."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import attrs

from ._ids import unencodable

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY_STATUSES",
    "ApiPreset",
    "Endpoints",
    "ResponseLimits",
    "RetryPolicy",
    "Timeout",
    "env_or",
    "is_loopback",
    "path_segment",
    "resolve_timeout",
]

DEFAULT_BASE_URL: Final = "https://api.pathors.com"
ENV_API_KEY: Final = "PATHORS_API_KEY"
ENV_PROJECT_ID: Final = "PATHORS_PROJECT_ID"
ENV_BASE_URL: Final = "PATHORS_BASE_URL"

#: Statuses that say "nothing ran, try again" (or "slow down"); 529 is "overloaded".
DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 502, 503, 504, 529})

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
    before the request was sent, and 408/429/502/503/504/529. A 500 is not retried:
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


def _byte_count(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    label = f"{type(instance).__name__}.{attribute.name}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int (bytes), not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{label} must be 1 or more bytes, got {value}")


@attrs.frozen(kw_only=True)
class ResponseLimits:
    """How much a response may hold, in bytes, so no server can exhaust memory.

    Past a bound, a stream raises `StreamError` (with what arrived in
    ``.partial_completion``) and a whole body raises `APIError`; the message
    names the bound and how to raise it. Error bodies are read up to 64 KiB
    whatever these say.

    Args:
        max_line_bytes: One line of an event stream.
        max_event_bytes: One event of an event stream (its ``data:`` lines together).
        max_body_bytes: A whole body, a stream's included, after decompression
            (a gzip bomb stops here).

    Raises:
        TypeError, ValueError: A bound is not a positive int.
    """

    max_line_bytes: int = attrs.field(default=1 << 20, validator=_byte_count)
    max_event_bytes: int = attrs.field(default=8 << 20, validator=_byte_count)
    max_body_bytes: int = attrs.field(default=32 << 20, validator=_byte_count)


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
            ValueError: Unknown `api`, a URL that is not ``http(s)://host[:port][/path]``
                (or has credentials), no project id where one is needed, or a
                project id that is not one path segment.
        """
        if api not in _CHAT_PATHS:
            raise ValueError(f"api must be 'v1' or 'legacy', got {api!r}")
        base_url = _http_url(base_url, "base_url").rstrip("/")
        project = None if project_id is None else path_segment(project_id, "project_id")
        if chat_completions_url is not None:
            chat = _http_url(chat_completions_url, "chat_completions_url")
        elif project is None:
            raise ValueError(
                f"no project id: pass project_id=... or set {ENV_PROJECT_ID} "
                "(or give chat_completions_url= for another OpenAI-compatible server)"
            )
        else:
            chat = base_url + _CHAT_PATHS[api].format(project_id=project)
        return cls(base_url=base_url, project_id=project_id, chat_completions=chat)

    def sessions(self, session_id: str | None = None) -> str:
        """Return the session API URL, for one session if `session_id` is given.

        Raises:
            ValueError: The client has no project id, or `session_id` is not
                one path segment.
        """
        if self.project_id is None:
            raise ValueError(
                f"the session API needs a project id: pass project_id=... or set {ENV_PROJECT_ID}"
            )
        url = f"{self.base_url}/v1/projects/{path_segment(self.project_id, 'project_id')}/sessions"
        return url if session_id is None else f"{url}/{path_segment(session_id, 'session_id')}"


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


_URL_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f]")


def _http_url(url: object, name: str) -> str:
    """Check an ``http(s)://host[:port][/path]`` URL; return it with the scheme in lower case.

    Credentials (``user:pass@``) are refused without repeating them, so they
    never reach a message, a log or a repr.
    """
    shape = f"{name} must look like https://host[:port][/path]"
    if not isinstance(url, str):
        raise TypeError(f"{shape}, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError(f"{shape}: only http:// and https:// are supported, got {url!r}")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:
        raise ValueError(
            f"{name} must not hold credentials (user:password@); "
            "pass the key as api_key=... (or PATHORS_API_KEY)"
        )
    if _URL_FORBIDDEN.search(url):
        raise ValueError(f"{shape}, without spaces or control characters (CR, LF…): {url!r}")
    url = scheme.lower() + "://" + rest
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"{shape}: {exc}: {url!r}") from None
    if not parts.hostname:
        raise ValueError(f"{shape}: no host in {url!r}")
    return url


def is_loopback(url: str) -> bool:
    """Tell whether a checked URL's host is this machine (``localhost``, 127.0.0.0/8, ``::1``).

    Args:
        url: A URL `_http_url` accepted.

    Returns:
        True for a loopback host.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def path_segment(value: str, name: str) -> str:
    """Percent-encode an id for use as one URL path segment.

    Args:
        value: A project or session id.
        name: The argument's name, for the message.

    Returns:
        The encoded segment.

    Raises:
        ValueError: `value` is empty, ``.``, ``..`` or holds ``/``, which would
            change the path (or be changed by a server or proxy) instead of
            naming one resource, or holds text UTF-8 cannot encode.
    """
    if value in ("", ".", "..") or "/" in value:
        raise ValueError(
            f"{name} {value!r} cannot be used as one URL path segment "
            "(empty, '.', '..' and '/' would change the path); use the id the service gave"
        )
    if unencodable(value):
        raise ValueError(
            f"{name} {value!r} holds text UTF-8 cannot encode (a lone surrogate); "
            "use the id the service gave"
        )
    return quote(value, safe="")


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
