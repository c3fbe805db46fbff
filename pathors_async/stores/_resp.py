"""Reading Redis replies (RESP) from bytes as they arrive: pure logic, no I/O.

`RespReader` takes the bytes a connection receives, split anywhere, and gives
back each complete reply: a number, bytes, None, a list, or, for an error reply,
the exception its caller makes of the text (`RedisConnection`: redis-py's
``NoScriptError`` or ``ResponseError``), as a value for that call alone. It
reads RESP2 (what a connection that did not say ``HELLO 3`` receives) and
RESP3's scalars, sets and maps (maps as flat lists), so that a server or proxy
speaking either is understood.

A server cannot make it hold more than it sent, wait for more than Redis ever
sends, recurse without end, or parse a reply again and again as it trickles
in: a header line longer than `MAX_LINE`, a bulk string longer than
`MAX_BULK`, more than `MAX_ITEMS` items in one reply or nesting deeper than
`MAX_DEPTH` is a `ProtocolError`, as is anything that is not RESP; the
connection must then be dropped, since nothing after it can be trusted to line
up with its calls. Its messages never quote what the server sent (a server may
write a password back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["MAX_BULK", "MAX_DEPTH", "MAX_ITEMS", "MAX_LINE", "ProtocolError", "RespReader"]

#: Longest header or simple line (a type byte, a length, a status or error text).
MAX_LINE: Final = 64 * 1024
#: Deepest nesting of lists in a reply (ours are at most two deep).
MAX_DEPTH: Final = 16
#: Most items in one reply, all its lists together (ours hold two at most; a partial reply
#: is parsed again when more of it arrives).
MAX_ITEMS: Final = 64
#: Longest bulk string: Redis's own bound (``proto-max-bulk-len``, 512 MiB).
MAX_BULK: Final = 512 * 1024 * 1024

_INCOMPLETE: Final[Any] = object()  # more bytes are needed
_SIZED: Final = frozenset(b"$=!")  # bulk string, verbatim string, bulk error
_LIST: Final = frozenset(b"*~%")  # array, set, map (read as a flat list)


class ProtocolError(Exception):
    """The server sent something that is not a RESP reply."""


class RespReader:
    """Complete replies out of the bytes fed in.

    Args:
        error: Makes the value for an error reply from its text (e.g.
            ``"NOSCRIPT No matching script"``).
    """

    def __init__(self, error: Any) -> None:  # noqa: ANN401 - a callable making any exception
        self._error = error
        self._chunks: list[bytes] = []  # received, not yet part of a complete reply
        self._size = 0  # their length
        self._need = 0  # the length they must reach before a reply can be complete
        self._line_from: int | None = None  # where in them a line waits for its end
        self._items = 0  # items in the lists of the reply being read
        self._open_lines: list[int] = []  # while parsing: where a line had no end yet

    def feed(self, data: bytes) -> list[Any]:
        """Take `data`; return the replies it completes, in order (maybe none).

        A large reply that comes in many pieces is put together once, when all of
        it is here, and a line that comes a byte at a time is looked at again only
        when a line feed comes: a reply is not parsed again at every piece.

        Raises:
            ProtocolError: What came is not RESP, or is beyond the bounds above.
        """
        self._size += len(data)
        if self._chunks:
            self._chunks.append(data)
            if self._size < self._need:
                return []
            line = self._line_from
            if line is not None and b"\n" not in data and self._size - line < MAX_LINE:
                return []  # the line it waits for has not ended (nor grown too long)
            buffer = b"".join(self._chunks)
        else:
            buffer = data
        replies: list[Any] = []
        position, end = 0, len(buffer)
        self._line_from = None
        while position < end:
            self._items = 0
            self._open_lines.clear()
            reply, after = self._reply(buffer, position, 0)
            if after < 0:  # incomplete: keep the rest, and how much of it must come
                self._need = -after - position
                if self._open_lines:
                    self._line_from = self._open_lines[-1] - position
                break
            replies.append(reply)
            position = after
        rest = buffer[position:] if position else buffer
        self._chunks = [rest] if rest else []
        self._size = len(rest)
        return replies

    def _line(self, buffer: bytes, position: int) -> int:
        """Where the line starting at `position` ends (its CR), or -1 if not yet received."""
        found = buffer.find(b"\r\n", position, position + MAX_LINE)
        if found < 0:
            if len(buffer) - position >= MAX_LINE:
                raise ProtocolError(f"a line of more than {MAX_LINE} bytes")
            self._open_lines.append(position)
        return found

    def _reply(self, buffer: bytes, position: int, depth: int) -> tuple[Any, int]:
        """The reply at `position` and the position after it.

        If it is not all here: (_INCOMPLETE, -n), where n is the length `buffer`
        must reach before it can be.
        """
        crlf = self._line(buffer, position)
        if crlf < 0:
            return _INCOMPLETE, -len(buffer) - 1
        kind, line, after = buffer[position], buffer[position + 1 : crlf], crlf + 2
        convert = _SIMPLE.get(kind)
        if convert is not None:
            return convert(line), after
        if kind in _SIZED:
            return self._sized(kind, _number(line), buffer, after)
        if kind in _LIST:
            return self._list(kind, _number(line), buffer, after, depth)
        if kind == 0x2D:  # '-' error
            return self._error(line.decode("utf-8", "replace")), after
        raise ProtocolError(f"a reply of unknown type (byte {kind:#04x})")

    def _sized(self, kind: int, size: int, buffer: bytes, start: int) -> tuple[Any, int]:
        """A bulk string, verbatim string or bulk error of `size` bytes from `start`."""
        if size < 0:
            return None, start  # RESP2's null
        if size > MAX_BULK:
            raise ProtocolError(f"a bulk string of {size} bytes (at most {MAX_BULK})")
        end = start + size
        if len(buffer) < end + 2:
            return _INCOMPLETE, -(end + 2)
        if buffer[end : end + 2] != b"\r\n":
            raise ProtocolError("a bulk string not followed by CRLF")
        value = buffer[start:end]
        if kind == 0x3D:  # '=' verbatim
            return value[4:], end + 2  # after "txt:" or "mkd:"
        if kind == 0x21:  # '!' bulk error
            return self._error(value.decode("utf-8", "replace")), end + 2
        return value, end + 2

    def _list(
        self, kind: int, count: int, buffer: bytes, after: int, depth: int
    ) -> tuple[Any, int]:
        """An array, set or map (its keys and values in turn) of `count` items from `after`."""
        if kind == 0x25:  # '%' map
            count *= 2
        if count < 0:
            return None, after  # RESP2's null array
        self._items += count
        if self._items > MAX_ITEMS:
            raise ProtocolError(f"a reply of more than {MAX_ITEMS} items")
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"replies nested more than {MAX_DEPTH} deep")
        items = []
        for _ in range(count):
            item, after = self._reply(buffer, after, depth + 1)
            if after < 0:
                return _INCOMPLETE, after
            items.append(item)
        return items, after


def _number(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise ProtocolError(f"a length or number that is not one ({len(line)} bytes)") from None


def _double(line: bytes) -> float:
    try:
        return float(line)
    except ValueError:
        raise ProtocolError(f"a double that is not one ({len(line)} bytes)") from None


#: How each one-line reply (but an error) becomes its value, by its type byte.
_SIMPLE: Final[dict[int, Callable[[bytes], Any]]] = {
    ord(":"): _number,  # integer
    ord("("): _number,  # big number
    ord("+"): bytes,  # status, e.g. OK
    ord("_"): lambda _line: None,  # null
    ord("#"): lambda line: line == b"t",  # boolean
    ord(","): _double,  # double
}
