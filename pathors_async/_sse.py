"""A pure, incremental Server-Sent Events decoder (bytes in, events out; no I/O).

It follows the WHATWG HTML rules for interpreting an event stream
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

- lines end with LF, CR or CRLF, and a CRLF split across two feeds is one line end;
- a UTF-8 byte order mark at the very start is dropped, once;
- text is UTF-8, invalid bytes become U+FFFD, and characters may be split across feeds;
- a line starting with ``:`` is a comment; a line without a colon is a field with an
  empty value; one space after the colon is dropped;
- ``data`` lines are joined with LF; an event is dispatched on a blank line, and
  only if it has data; the event type resets after each blank line, the last event
  id carries over; an ``id`` containing NUL is ignored; ``retry`` counts only when
  it is all ASCII digits;
- at the end of the stream an unfinished event (no blank line yet) is dropped.

It finds line ends in bytes with C-level ``bytes`` methods, decodes only whole
lines (a character split across feeds waits with its line), and handles the
usual ``data: ...`` + blank line shape a whole feed at a time, so the Python-level
work is per event at most, never per byte. (Line ends are ASCII, and UTF-8 never
uses ASCII bytes inside a multi-byte character, so cutting bytes at line ends
before decoding is exact.)
"""

from __future__ import annotations

import sys
from functools import partial
from itertools import repeat
from typing import Final, NamedTuple

__all__ = ["SSEDecoder", "SSELimitError", "ServerSentEvent"]

_BOM: Final = b"\xef\xbb\xbf"
_UNBOUNDED: Final = sys.maxsize


class SSELimitError(ValueError):
    """A line or an event passed the decoder's bound (the stream cannot go on).

    Attributes:
        bound: Which bound: ``"max_line_bytes"`` or ``"max_event_bytes"``.
        limit: The bound's value.
    """

    def __init__(self, bound: str, limit: int) -> None:
        super().__init__(f"an event-stream {bound[4:-6]} passed {bound}={limit}")
        self.bound = bound
        self.limit = limit


class ServerSentEvent(NamedTuple):
    """One dispatched event (an immutable record).

    Attributes:
        event: The event type (``"message"`` unless an ``event:`` field said otherwise).
        data: The data lines, joined with LF.
        id: The last event id seen so far in the stream (it carries over), or None.
        retry: The reconnection time in ms given in this event's block, or None.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


# Building the tuple directly skips NamedTuple's keyword-handling __new__: the
# decoder makes one event per chunk, and this is most of its cost.
_new_event: Final = tuple.__new__
_make_event: Final = partial(tuple.__new__, ServerSentEvent)
_MESSAGE: Final = repeat("message")
_NONE: Final = repeat(None)


def _only_data_events(text: str) -> list[str] | None:
    r"""Return the payloads if `text` is only ``data: X`` lines each followed by a blank line.

    That is the shape nearly every chunk of a chat stream has, and it is checked
    and split with C-level string methods only: `text` holds whole lines (it ends
    with LF), so it has the shape exactly when it starts with ``data: ``, ends
    with a blank line, and splitting on ``\n\ndata: `` yields half as many
    pieces as it has LFs (then no piece holds a LF).

    Args:
        text: Whole decoded lines, LF-terminated, after a blank line.

    Returns:
        The data of each event, or None when the text has any other shape.
    """
    if not (text.startswith("data: ") and text.endswith("\n\n")):
        return None
    payloads = text[6:-2].split("\n\ndata: ")
    return payloads if len(payloads) * 2 == text.count("\n") else None


class SSEDecoder:
    """Turn a byte stream, fed in slices of any size, into `ServerSentEvent` objects.

    Call `feed` with each slice as it arrives and `close` at the end of the stream.

    Args:
        max_line_bytes: The longest line kept (a line without its end waits in
            memory); None for no bound.
        max_event_bytes: The most data one event may gather before its blank
            line (roughly: counted in characters of its ``data`` lines); None
            for no bound.

    Raises:
        SSELimitError: From `feed`, when a bound is passed.

    Attributes:
        last_event_id: The last event id set by the stream, or None.
        retry: The last valid ``retry`` value, in ms, or None.
    """

    __slots__ = (
        "_at_start",
        "_check_above",
        "_data",
        "_data_size",
        "_event",
        "_max_event",
        "_max_line",
        "_pending",
        "_pending_cr",
        "_pending_size",
        "_retry_in_block",
        "last_event_id",
        "retry",
    )

    def __init__(
        self, *, max_line_bytes: int | None = None, max_event_bytes: int | None = None
    ) -> None:
        self._max_line = max_line_bytes or _UNBOUNDED
        self._max_event = max_event_bytes or _UNBOUNDED
        # Whole lines that fit in this many bytes cannot pass either bound, so
        # only a larger block of lines is looked at line by line.
        self._check_above = min(self._max_line, self._max_event)
        self._pending: list[bytes] = []  # an unfinished line, in pieces
        self._pending_size = 0
        self._data_size = 0
        self._pending_cr = False  # the previous feed ended with CR
        self._at_start = True  # no byte seen yet (for the BOM)
        self._data: list[str] = []
        self._event = ""
        self._retry_in_block: int | None = None
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode the next slice of the stream.

        Args:
            data: Any number of bytes, split anywhere.

        Returns:
            The events completed by this slice, in order (often none or one).
        """
        if self._at_start:
            data = self._strip_bom(data)
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if b"\n" not in data and b"\r" not in data:
            if data:
                self._hold(data, self._pending_size + len(data))
            return []
        if self._pending:
            self._pending.append(data)
            data = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
        if b"\r" in data:
            if data.endswith(b"\r"):  # may be the first half of a CRLF
                self._pending_cr = True
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n") + 1  # whole lines end here; the rest waits
        if end < len(data):
            self._hold(data[end:], len(data) - end)
        if not end:
            return []
        large = end > self._check_above
        if large and max(map(len, data[:end].split(b"\n"))) > self._max_line:
            raise SSELimitError("max_line_bytes", self._max_line)
        text = data[:end].decode("utf-8", "replace")
        if not (large or self._data or self._event or self._retry_in_block is not None):
            payloads = _only_data_events(text)
            if payloads is not None:
                return list(
                    map(_make_event, zip(_MESSAGE, payloads, repeat(self.last_event_id), _NONE))
                )
        lines = text.split("\n")
        lines.pop()  # the empty string after the last LF
        return self._lines(lines)

    def close(self) -> list[ServerSentEvent]:
        """End the stream: a pending CR still ends its line; a half event is dropped.

        Returns:
            An event completed by that last line end, if any.
        """
        events: list[ServerSentEvent] = []
        if self._pending_cr:
            self._pending_cr = False
            line = b"".join(self._pending).decode("utf-8", "replace")
            events = self._lines([line])
        self._pending = []
        self._pending_size = 0
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry_in_block = None
        return events

    def _hold(self, piece: bytes, size: int) -> None:
        """Keep `piece` of an unfinished line; `size` is the line's length so far."""
        if size > self._max_line:
            raise SSELimitError("max_line_bytes", self._max_line)
        self._pending.append(piece)
        self._pending_size = size

    def _strip_bom(self, data: bytes) -> bytes:
        """Drop a BOM at the very start, waiting for more bytes if a feed holds only part."""
        if self._pending:  # the first feed(s) were a possible start of a BOM
            data = b"".join(self._pending) + data
            self._pending = []
        if len(data) < len(_BOM) and _BOM.startswith(data):
            if data:
                self._pending.append(data)
            return b""
        self._at_start = False
        return data[len(_BOM) :] if data.startswith(_BOM) else data

    def _lines(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(self._dispatch())
                    data = self._data
                else:
                    self._event = ""
                    self._retry_in_block = None
            elif line.startswith("data:"):  # the common case, first
                value = line[6:] if line[5:6] == " " else line[5:]
                data.append(value)
                self._grow(len(value))
            elif line[0] != ":":  # not a comment
                self._field(line)
        return events

    def _grow(self, size: int) -> None:
        """Count `size` more characters of data in the event being gathered."""
        self._data_size += size
        if self._data_size > self._max_event:
            raise SSELimitError("max_event_bytes", self._max_event)

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._grow(len(value))
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry_in_block = self.retry = int(value)

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        event = _new_event(
            ServerSentEvent,
            (
                self._event or "message",
                data[0] if len(data) == 1 else "\n".join(data),
                self.last_event_id,
                self._retry_in_block,
            ),
        )
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry_in_block = None
        return event
