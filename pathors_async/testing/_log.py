"""What the emulator tells a request hook after each request: `RequestLog`.

The ``pathors-async emulator`` command prints one line per request from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["RequestHook", "RequestLog", "log_middleware"]


@attrs.frozen(kw_only=True)
class RequestLog:
    """One answered request, as the emulator's request hook sees it.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        session_id: The session (the answer's ``X-Session-ID``, else the request's), or None.
        status: The HTTP status sent (a dropped connection shows the status it never sent).
        ms: Milliseconds from the request's arrival to the end of its answer
            (a stream's whole body included).
    """

    method: str
    path: str
    session_id: str | None
    status: int
    ms: float

    def line(self) -> str:
        """The log line: ``POST /v1/... session=abc 200 1.2 ms``."""
        session = self.session_id or "-"
        return f"{self.method} {self.path} session={session} {self.status} {self.ms:.1f} ms"


#: A request hook: called with each request's `RequestLog` once it is answered.
RequestHook = Callable[[RequestLog], None]


def log_middleware(
    hook: Callable[[], RequestHook | None],
) -> Middleware:
    """An aiohttp middleware that times each request and hands it to the current hook.

    Args:
        hook: Returns the hook to call (None: none), read after each request.

    Returns:
        The middleware.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            current = hook()
            if current is not None:
                answered = response.headers.get("X-Session-ID") if response is not None else None
                current(
                    RequestLog(
                        method=request.method,
                        path=request.path,
                        session_id=answered or request.headers.get("X-Session-ID"),
                        status=status,
                        ms=(time.perf_counter() - started) * 1000,
                    )
                )
        return response

    return middleware
