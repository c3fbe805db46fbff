"""Identifier checks shared by the layers that send ids in headers (pure, no I/O)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["check_session_id"]

_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f]")


def check_session_id(session_id: object) -> str | None:
    """Check a session id before it goes into the ``X-Session-ID`` header.

    Args:
        session_id: The id, or None for none.

    Returns:
        The id, unchanged.

    Raises:
        TypeError: It is not a string.
        ValueError: It is empty, has control characters (CR, LF…) or
            surrounding whitespace, which a header cannot carry intact.
    """
    if session_id is None:
        return None
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a string, not {type(session_id).__name__}")
    if not session_id or session_id != session_id.strip():
        raise ValueError(
            f"session_id {session_id!r} is empty or has surrounding whitespace; "
            "pass the id the service returned, or None to start a new session"
        )
    if _CONTROL_CHARACTERS.search(session_id):
        raise ValueError(
            f"session_id {session_id!r} contains control characters (CR, LF, NUL…), "
            "which cannot go into the X-Session-ID header"
        )
    return session_id
