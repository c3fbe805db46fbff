"""The errors for a request that got no usable response: pure, named by `Cause`.

`_transport` sorts what aiohttp raised into a `Cause` (the only part that knows
aiohttp); this module words the typed error, says whether the request had been
sent (for the retry logic), and is tested without I/O.
"""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias

from ._errors import APIConnectionError, APIError, APITimeoutError, StreamError
from ._exchange import Request
from ._retry import Failure

__all__ = ["Cause", "Phase", "connection_error"]

#: ``"send"`` (no response yet), ``"body"`` (reading a whole body) or ``"stream"``
#: (reading a stream the caller is consuming).
Phase: TypeAlias = Literal["send", "body", "stream"]


class Cause(enum.Enum):
    """Why a request got no usable response."""

    CONNECT_TIMEOUT = "no connection within Timeout.connect"
    READ_TIMEOUT = "silence past Timeout.read"
    TOTAL_TIMEOUT = "past Timeout.total"
    CERTIFICATE = "a TLS certificate that failed its check"
    CONNECT = "no connection"
    BROKEN = "a connection that broke"


def connection_error(
    cause: Cause, *, request: Request, phase: Phase, detail: str
) -> tuple[APIError, Failure | None]:
    """Build the typed error for `cause`, and whether the request had been sent.

    Args:
        cause: What happened.
        request: The request under way.
        phase: Where in the exchange it happened.
        detail: The library's own words (already free of the key), for causes
            that are not timeouts.

    Returns:
        The error, and for the retry logic whether the request was sent (None:
        no retry can help).
    """
    where = {
        "send": request.where,
        "body": f"the body of {request.where}",
        "stream": f"the stream from {request.where}",
    }[phase]
    kept = "; .partial_completion holds what arrived" if phase == "stream" else ""
    timeout, url = request.timeout, request.url
    if cause is Cause.CONNECT_TIMEOUT:
        message = f"could not connect within {timeout.connect} s (Timeout.connect): {where}"
        return APITimeoutError(message, url=url), Failure.NOT_SENT
    if cause is Cause.READ_TIMEOUT:
        if phase == "send":
            message = f"no data from the server for {timeout.read} s (Timeout.read): {where}"
        else:
            message = f"no data for {timeout.read} s (Timeout.read) in {where}{kept}"
        return APITimeoutError(message, url=url), Failure.SENT
    if cause is Cause.TOTAL_TIMEOUT:
        message = f"{where} took longer than {timeout.total} s (Timeout.total){kept}"
        return APITimeoutError(message, url=url), None
    if cause is Cause.CERTIFICATE:
        return APIConnectionError(
            f"TLS certificate check failed for {where}: {detail}", url=url
        ), None
    if cause is Cause.CONNECT:
        return APIConnectionError(
            f"could not connect for {where}: {detail}", url=url
        ), Failure.NOT_SENT
    return _broken(where, phase, kept, detail, url)


def _broken(
    where: str, phase: Phase, kept: str, detail: str, url: str
) -> tuple[APIError, Failure | None]:
    if phase == "stream":
        message = (
            f"the connection was cut during {where}, before it ended: {detail}{kept} (the turn "
            "may have run: check the session before sending it again)"
        )
        return StreamError(message, url=url), None
    if phase == "body":
        message = f"the connection broke while reading {where}: {detail}"
        return APIConnectionError(message, url=url), None
    message = f"the connection broke during {where} before a response: {detail}"
    return APIConnectionError(message, url=url), Failure.SENT
