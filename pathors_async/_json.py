"""JSON in and out, in one place: every parse and dump on the request paths goes through here.

`loads` never lets a `RecursionError` out: JSON nested deeper than Python can hold
(``[[[[…]]]]`` 100,000 deep, from a hostile server) is a `JSONError`, a
`ValueError` like any other malformed JSON. The depth is only looked at when the
parser fails, so well-formed JSON costs nothing extra. A faster backend (orjson)
can be plugged in here without touching the callers.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["JSONError", "dumps", "loads"]

_decode: Final = json.JSONDecoder().decode
_encode: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


class JSONError(ValueError):
    """Text that is not JSON, or JSON nested too deep to decode."""


def loads(data: str | bytes) -> Any:  # noqa: ANN401 - JSON is Any by nature
    """Decode JSON text (str, or UTF-8 bytes).

    Args:
        data: The JSON document.

    Returns:
        The decoded value.

    Raises:
        JSONError: It is not valid JSON (the message says where), or it is
            nested too deep to decode.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _decode(text)
    except RecursionError:
        raise JSONError("JSON nested too deep to decode") from None
    except UnicodeDecodeError as exc:
        raise JSONError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None


def dumps(value: object) -> bytes:
    """Encode a JSON-safe value as compact-enough UTF-8 bytes (non-ASCII kept as is).

    Args:
        value: Dicts, lists, strings, numbers, booleans and None.

    Returns:
        The encoded document.

    Raises:
        TypeError: A value is not JSON-serialisable.
        ValueError: A float is NaN or infinite, or the value is nested too deep.
    """
    try:
        return _encode(value).encode("utf-8")
    except RecursionError:
        raise ValueError("the value is nested too deep to encode as JSON") from None
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(
            f"the request holds text that is not valid Unicode ({bad!r}, a lone surrogate); "
            "replace it, e.g. with text.encode('utf-8', 'replace').decode()"
        ) from None
    except ValueError as exc:
        raise ValueError(f"the request cannot be sent as JSON: {exc}") from None
