"""JSON in and out, in one place: every parse and dump on the request paths goes through here.

`loads` never lets a `RecursionError` out: JSON nested deeper than Python can hold
(``[[[[…]]]]`` 100,000 deep, from a hostile server) is a `JSONError`, a
`ValueError` like any other malformed JSON. The depth is only looked at when the
parser fails, so well-formed JSON costs nothing extra.

With the ``speedups`` extra installed (orjson), `loads` and `dumps` use orjson,
with exactly the results and errors of the standard library: orjson is only
trusted where both agree, and anything else takes the standard path, which
decides the answer and the message.

- `loads` tries orjson first; on any error (NaN, lone surrogate escapes, JSON
  nested past orjson's limit, malformed text) the standard decoder answers.
  orjson turns integers past 64 bits into floats, so text holding 19 digits in a
  row goes to the standard decoder directly, and so does text (str) that cannot
  be UTF-8 (a lone surrogate).
- `dumps` uses orjson for plain values only (dicts with str keys, lists, tuples,
  str, int, finite float, bool, None), checked first; anything else (an enum, a
  UUID, NaN, a non-str key…) is encoded, or refused, by the standard encoder.
  Both write compact JSON (no spaces); only the spelling of some floats differs
  (``1e+16`` against ``1e16``), never their value.

``PATHORS_ASYNC_PURE=1`` in the environment when this module is first imported
turns orjson off (to compare, or to rule it out).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any, Final

__all__ = ["BACKEND", "JSONError", "dumps", "dumps_plain", "is_plain", "loads"]

_decode: Final = json.JSONDecoder().decode
_encode: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# 19 digits in a row (an integer orjson may turn into a float, or a long mantissa) are
# found as 19 NULs once every digit is made a NUL: translate and `in` run in C, where a
# regular expression costs more than the parse.
_DIGITS_TO_NUL: Final = bytes.maketrans(b"0123456789", b"\0" * 10)
_LONG_NUMBER: Final = b"\0" * 19


def _orjson() -> tuple[Callable[[Any], Any], Callable[[Any], bytes]] | None:
    if os.environ.get("PATHORS_ASYNC_PURE", "").strip() not in ("", "0"):
        return None
    try:
        import orjson  # noqa: PLC0415 - optional, chosen once at import
    except ImportError:
        return None
    return orjson.loads, orjson.dumps


_FAST: Final = _orjson()
#: ``"orjson"`` when the speedups are in use, else ``"json"``.
BACKEND: Final = "json" if _FAST is None else "orjson"


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
    if _FAST is not None:
        try:
            raw = data if isinstance(data, bytes) else data.encode()
        except UnicodeEncodeError:  # a lone surrogate in the text: the standard decoder decides
            return _pure_loads(data)
        if _LONG_NUMBER not in raw.translate(_DIGITS_TO_NUL):
            try:
                return _FAST[0](raw)
            except ValueError:
                pass  # the standard decoder decides: maybe valid for it, and its message
    return _pure_loads(data)


def _pure_loads(data: str | bytes) -> Any:  # noqa: ANN401 - JSON is Any by nature
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
    """Encode a JSON-safe value as compact UTF-8 bytes (non-ASCII kept as is).

    Args:
        value: Dicts, lists, strings, numbers, booleans and None.

    Returns:
        The encoded document.

    Raises:
        TypeError: A value is not JSON-serialisable.
        ValueError: A float is NaN or infinite, or the value is nested too deep.
    """
    if _FAST is not None:
        try:
            plain = _plain(value)
        except RecursionError:
            plain = False
        if plain:
            try:
                return _compact(_FAST[1](value))
            except TypeError:
                pass  # a lone surrogate, an integer past 64 bits, deep nesting: as below
    return _pure_dumps(value)


def dumps_plain(value: object) -> bytes:
    """`dumps` without the check, for a value the caller knows is plain (no floats).

    Plain: dicts with str keys, lists, tuples, str, int, bool and None; the bytes
    and the errors are those of `dumps`.
    """
    if _FAST is not None:
        try:
            return _compact(_FAST[1](value))
        except TypeError:
            pass  # a lone surrogate, an integer past 64 bits: the standard encoder decides
    return _pure_dumps(value)


def _compact(encoded: bytes) -> bytes:
    """A copy of `encoded` that holds only its length.

    orjson hands back bytes whose memory block is far larger than the text (4 KiB
    for a 90-byte body, about ten times the size for larger ones). A body is held
    while its stream is open (aiohttp keeps the request), and encodings are kept
    in caches, so the copy (0.1 µs for a small body) pays for itself.
    """
    return memoryview(encoded).tobytes()


def is_plain(value: object) -> bool:
    """Whether orjson and the standard encoder write `value` alike (see `dumps`)."""
    try:
        return _plain(value)
    except RecursionError:
        return False


def _pure_dumps(value: object) -> bytes:
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


_isfinite: Final = math.isfinite


def _plain(value: object) -> bool:  # noqa: PLR0911 - one answer per kind of value
    """Whether orjson encodes `value` exactly as the standard encoder does (its types only)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    # Loops, not all(): no generator per container on the request path.
    if type(value) is dict:
        for key, item in value.items():  # noqa: SIM110
            if type(key) is not str or not _plain(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        for item in value:  # noqa: SIM110
            if not _plain(item):
                return False
        return True
    if type(value) is float:
        return _isfinite(value)
    return False
