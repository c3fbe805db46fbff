"""`ContentDecoder`: undo ``Content-Encoding`` (gzip, deflate) within a byte budget.

Pure (bytes in, bytes out). It never produces more than the budget plus one
byte, however well the input compresses, and at most 256 KiB per call, so a
gzip bomb costs at most the budget in memory; past the budget `over_limit`
turns true and the caller stops.
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["ACCEPT_ENCODING", "ContentDecoder"]

#: What we ask servers for: the encodings decoded here.
ACCEPT_ENCODING: Final = "gzip, deflate"

_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB: Final = zlib.MAX_WBITS
_RAW: Final = -zlib.MAX_WBITS
#: The most one call decodes, so a bomb never makes one large buffer at once.
_STEP: Final = 256 * 1024


class ContentDecoder:
    """Decode one body's ``Content-Encoding`` as its bytes arrive, within `budget` bytes.

    Args:
        encoding: The ``Content-Encoding`` header (None, ``identity``, ``gzip``,
            ``x-gzip`` or ``deflate``).
        budget: The most decoded bytes the body may have.

    Raises:
        ValueError: Another encoding (the message names it).
    """

    __slots__ = ("_budget", "_tail", "_wbits", "_z", "over_limit", "size")

    def __init__(self, encoding: str | None, budget: int) -> None:
        name = (encoding or "identity").strip().lower()
        self._wbits: int | None
        if name in ("", "identity"):
            self._wbits = None
        elif name in ("gzip", "x-gzip"):
            self._wbits = _GZIP
        elif name == "deflate":
            self._wbits = 0  # zlib or raw deflate: told apart by the first byte
        else:
            raise ValueError(
                f"unsupported Content-Encoding {encoding!r} (only gzip and deflate are asked for)"
            )
        self._budget = budget
        self._z: zlib._Decompress | None = None
        self._tail = b""  # input not decoded yet (past one step's output)
        self.size = 0
        #: True once the decoded body passed the budget; output stops there.
        self.over_limit = False

    def feed(self, data: bytes) -> bytes:
        """Decode the next bytes of the body.

        Args:
            data: Raw bytes as received.

        Returns:
            The decoded bytes (at most one past the budget in all, and at most
            256 KiB per call: while `has_more`, call again with ``b""``).

        Raises:
            zlib.error: The compressed data is corrupt.
        """
        if self.over_limit or not (data or self._tail):
            return b""
        room = self._budget - self.size + 1
        out = data[:room] if self._wbits is None else self._inflate(data)
        self.size += len(out)
        if self.size > self._budget:
            self.over_limit = True
        return out

    @property
    def has_more(self) -> bool:
        """Whether input already fed holds more output (call ``feed(b"")`` for it)."""
        return bool(self._tail) and not self.over_limit

    def _inflate(self, data: bytes) -> bytes:
        """Inflate at most `_STEP` bytes; keep the rest of the input for the next call."""
        data = self._tail + data if self._tail else data
        self._tail = b""
        while data:
            if self._z is None:
                wbits = self._wbits or (_ZLIB if data[0] & 0x0F == 8 else _RAW)
                self._z = zlib.decompressobj(wbits)
            room = self._budget - self.size + 1
            out = self._z.decompress(data, min(room, _STEP))
            self._tail = self._z.unconsumed_tail
            if not self._tail and self._z.eof and self._z.unused_data:
                self._tail = self._z.unused_data  # a further gzip member
                self._z = None
            if out or not self._tail:
                return out
            data, self._tail = self._tail, b""
        return b""
