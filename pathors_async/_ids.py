"""Checks for what goes into request headers and paths: ids, the key, headers (pure, no I/O).

Text a header or URL cannot carry intact (control characters such as CR, LF
and NUL, and lone surrogates, which UTF-8 cannot encode) is refused here with
a `ValueError` that says what to do, before anything is sent; otherwise
aiohttp would raise its own bare ``ValueError`` on every request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["LONE_SURROGATES", "check_api_key", "check_headers", "check_session_id", "unencodable"]

_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f]")
#: A lone surrogate: text UTF-8 cannot encode (shared with `_untrusted`, which replaces them).
LONE_SURROGATES: Final = re.compile("[\ud800-\udfff]")


def unencodable(value: str) -> bool:
    """Whether `value` holds text UTF-8 cannot encode (a lone surrogate)."""
    return LONE_SURROGATES.search(value) is not None


def check_session_id(session_id: object) -> str | None:
    """Check a session id before it goes into the ``X-Session-ID`` header.

    Args:
        session_id: The id, or None for none.

    Returns:
        The id, unchanged.

    Raises:
        TypeError: It is not a string.
        ValueError: It is empty, has control characters (CR, LF…), surrounding
            whitespace or text UTF-8 cannot encode, which a header cannot
            carry intact.
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
    if unencodable(session_id):
        raise ValueError(
            f"session_id {session_id!r} holds text UTF-8 cannot encode (a lone "
            "surrogate); pass the id the service returned, or None to start a new session"
        )
    return session_id


def check_api_key(key: object) -> str:
    """Check the API key before it goes into the ``Authorization`` header.

    The messages never show the key.

    Args:
        key: The key.

    Returns:
        The key, unchanged.

    Raises:
        TypeError: It is not a string.
        ValueError: It has a control character (often a trailing newline read
            from a file) or text UTF-8 cannot encode.
    """
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a string, not {type(key).__name__}")
    if _CONTROL_CHARACTERS.search(key):
        raise ValueError(
            "the API key contains a control character (a trailing newline from a file?); "
            "strip it, e.g. api_key=key.strip()"
        )
    if unencodable(key):
        raise ValueError(
            "the API key holds text UTF-8 cannot encode (a lone surrogate); "
            "pass the key exactly as the Pathors dashboard shows it"
        )
    return key


def check_headers(headers: object, where: str) -> dict[str, str] | None:
    """Check headers given by the user (`where` names the argument, for messages).

    Values are never shown, since one may hold a key.

    Args:
        headers: A mapping of header names to values, or None.
        where: ``"default_headers"`` or ``"extra_headers"``.

    Returns:
        The headers as a new dict, or None for None.

    Raises:
        TypeError: It is not a mapping of strings to strings.
        ValueError: A name is empty, or a name or value has a control character
            (CR, LF, NUL…) or text UTF-8 cannot encode.
    """
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise TypeError(f"{where} must be a mapping of header names to values")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: header names must be strings, not {type(name).__name__}")
        if not name:
            raise ValueError(f"{where}: a header name must not be empty")
        problem = _header_problem(name)
        if problem:
            raise ValueError(f"{where}: the header name {name!r} {problem}")
        if not isinstance(value, str):
            raise TypeError(
                f"{where}: the value of header {name!r} must be a string, "
                f"not {type(value).__name__}"
            )
        problem = _header_problem(value)
        if problem:
            raise ValueError(f"{where}: the value of header {name!r} {problem}")
        checked[name] = value
    return checked


def _header_problem(text: str) -> str | None:
    if _CONTROL_CHARACTERS.search(text):
        return "contains a control character (CR, LF, NUL…), which a header cannot carry"
    if unencodable(text):
        return "holds text UTF-8 cannot encode (a lone surrogate)"
    return None
